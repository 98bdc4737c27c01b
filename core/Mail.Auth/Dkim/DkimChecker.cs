using System.Security.Cryptography;
using Mail.Core.Ports;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mail.Auth.Dkim;

/// <summary>
/// Verifies every DKIM-Signature of a message (RFC 6376, RFC 8463) and gives each a result with a reason.
/// MimeKit does the canonicalization and the cryptography; this class does what MimeKit's DkimVerifier leaves
/// out or folds into a bare bool: tag validation, x= expiry, t=y, key tags h= s= k= t=s, revoked keys,
/// l= with unsigned content, rsa-sha1, small RSA keys, DNS failure versus missing key.
/// </summary>
public sealed class DkimChecker
{
    private readonly DkimKeyLookup _keys;
    private readonly DkimOptions _options;
    private readonly TimeProvider _time;
    private readonly Crypto _crypto;

    public DkimChecker(IDnsResolver dns, DkimOptions? options = null, TimeProvider? time = null)
    {
        _keys = new DkimKeyLookup(dns);
        _options = options ?? new DkimOptions();
        _time = time ?? TimeProvider.System;
        _crypto = new Crypto(new DnsDkimPublicKeyLocator(dns));
    }

    /// <summary>One result per DKIM-Signature field, top to bottom (at most <see cref="DkimOptions.MaxSignatures"/>);
    /// empty when the message is unsigned.</summary>
    public async Task<IReadOnlyList<DkimResult>> VerifyAsync(MimeMessage message, CancellationToken cancellationToken = default)
    {
        var results = new List<DkimResult>();
        foreach (var header in message.Headers)
        {
            if (header.Id != HeaderId.DkimSignature) continue;
            if (results.Count >= _options.MaxSignatures) break;
            results.Add(await VerifyAsync(message, header, cancellationToken));
        }
        return results;
    }

    public async Task<DkimResult> VerifyAsync(MimeMessage message, Header signature, CancellationToken cancellationToken = default)
    {
        var fields = DkimSignatureFields.Parse(signature.Value, out var parseError);
        if (fields is null) return new DkimResult { Code = DkimResultCode.PermError, Reason = parseError, HeaderB = HeaderBOf(signature.Value) };

        DkimResult Result(DkimResultCode code, string? reason, bool testing = false) => new()
        {
            Code = code,
            Reason = reason,
            Domain = fields.Domain,
            Selector = fields.Selector,
            Identity = fields.Identity,
            Algorithm = fields.AlgorithmName,
            HeaderB = fields.Signature.Length > 8 ? fields.Signature[..8] : fields.Signature,
            Testing = testing,
        };

        if (fields.Algorithm is not { } algorithm) return Result(DkimResultCode.PermError, $"unknown algorithm a={fields.AlgorithmName}");
        if (algorithm == DkimSignatureAlgorithm.RsaSha1 && !_options.AllowRsaSha1)
            return Result(DkimResultCode.Policy, "rsa-sha1 signatures are not accepted (RFC 8301)");
        if (fields.Expiration is { } expiry && _time.GetUtcNow() > expiry + _options.ClockSkew)
            return Result(DkimResultCode.PermError, $"signature expired at {expiry:u}");

        var lookup = await _keys.LookupAsync(fields.Domain, fields.Selector, cancellationToken);
        if (lookup.Record is not { } key)
            return Result(lookup.TemporaryFailure ? DkimResultCode.TempError : DkimResultCode.PermError, lookup.Error);
        var testing = key.IsTesting;

        var keyProblem = CheckKeyRecord(key, fields, algorithm);
        if (keyProblem is not null) return Result(DkimResultCode.PermError, keyProblem, testing);

        var publicKey = key.DecodeKey(out var keyError);
        if (publicKey is null) return Result(DkimResultCode.PermError, keyError, testing);
        if (publicKey is RsaKeyParameters rsa && rsa.Modulus.BitLength < _options.MinimumRsaKeyBits)
            return Result(DkimResultCode.Policy, $"RSA key of {rsa.Modulus.BitLength} bits is below {_options.MinimumRsaKeyBits}", testing);

        DkimResult outcome;
        try
        {
            outcome = Verify(message, signature, fields, algorithm, publicKey, testing, Result);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Malformed base64 in b=/bh=, a signature of the wrong size, and similar sender-controlled garbage:
            // whatever MimeKit or BouncyCastle throw, the message gets a result, never an exception.
            outcome = Result(DkimResultCode.PermError, "signature could not be processed: " + e.Message, testing);
        }

        // RFC 6376 3.6.1 t=y: the domain is testing DKIM; a failure must not count against the message.
        if (testing && outcome.Code == DkimResultCode.Fail)
            outcome = outcome with { Code = DkimResultCode.Neutral, Reason = outcome.Reason + " (key in testing mode)" };
        return outcome;
    }

    private DkimResult Verify(MimeMessage message, Header signature, DkimSignatureFields fields, DkimSignatureAlgorithm algorithm,
        AsymmetricKeyParameter publicKey, bool testing, Func<DkimResultCode, string?, bool, DkimResult> result)
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        var maxLength = fields.BodyLength is { } l ? (int)Math.Min(l, int.MaxValue) : -1;

        if (!Crypto.BodyHashMatches(format, message, algorithm, fields.BodyCanonicalization, maxLength, fields.BodyHash))
            return result(DkimResultCode.Fail, "body hash did not verify", testing);
        if (!SignatureMatches(format, message, signature, fields, algorithm, publicKey))
            return result(DkimResultCode.Fail, "signature did not verify", testing);

        // l=: the signed prefix is intact. If the whole canonical body also hashes to bh, nothing was added after it.
        if (maxLength >= 0 && _options.BodyLengthPolicy == DkimBodyLengthPolicy.Policy
            && !Crypto.BodyHashMatches(format, message, algorithm, fields.BodyCanonicalization, -1, fields.BodyHash))
            return result(DkimResultCode.Policy, $"body has unsigned content after l={fields.BodyLength}", testing);

        return result(DkimResultCode.Pass, testing ? "key in testing mode" : null, testing);
    }

    // RSA goes through OpenSSL (System.Security.Cryptography) with the key imported once; the header hash is
    // computed by DkimHeaderHash over the same bytes MimeKit would sign. Ed25519 stays with MimeKit/BouncyCastle.
    private bool SignatureMatches(FormatOptions format, MimeMessage message, Header signature, DkimSignatureFields fields,
        DkimSignatureAlgorithm algorithm, AsymmetricKeyParameter publicKey)
    {
        if (publicKey is not RsaKeyParameters rsa || algorithm == DkimSignatureAlgorithm.Ed25519Sha256)
            return _crypto.SignatureMatches(format, message, signature, algorithm, publicKey, fields.SignedHeaders, fields.HeaderCanonicalization, fields.Signature);
        var hashName = algorithm == DkimSignatureAlgorithm.RsaSha1 ? HashAlgorithmName.SHA1 : HashAlgorithmName.SHA256;
        var hash = DkimHeaderHash.Compute(hashName, message, signature, fields.SignedHeaders, fields.HeaderCanonicalization);
        var signatureBytes = Convert.FromBase64String(fields.Signature);
        return DkimKeyRecord.NativeRsa(rsa).VerifyHash(hash, signatureBytes, hashName, RSASignaturePadding.Pkcs1);
    }

    private static string? CheckKeyRecord(DkimKeyRecord key, DkimSignatureFields fields, DkimSignatureAlgorithm algorithm)
    {
        if (key.IsRevoked) return "key revoked (empty p=)";
        var (keyType, hash) = algorithm switch
        {
            DkimSignatureAlgorithm.Ed25519Sha256 => ("ed25519", "sha256"),
            DkimSignatureAlgorithm.RsaSha1 => ("rsa", "sha1"),
            _ => ("rsa", "sha256"),
        };
        if (key.KeyType != keyType) return $"key type k={key.KeyType} does not match a={fields.AlgorithmName}";
        if (key.Hashes is { } hashes && !hashes.Contains(hash)) return $"key does not allow {hash} (h={string.Join(':', hashes)})";
        if (!key.ServiceTypes.Contains("*") && !key.ServiceTypes.Contains("email")) return "key is not for email (s=)";
        if (key.IsStrictIdentity)
        {
            var iDomain = fields.Identity[(fields.Identity.LastIndexOf('@') + 1)..].ToLowerInvariant();
            if (iDomain != fields.Domain) return "key requires i= domain to equal d= (t=s)";
        }
        return null;
    }

    private static string? HeaderBOf(string value)
    {
        var tags = TagList.Parse(value, out _);
        if (tags is null || !tags.TryGetValue("b", out var b)) return null;
        b = TagList.StripWhitespace(b);
        return b.Length > 8 ? b[..8] : b;
    }

    /// <summary>Opens MimeKit's protected canonicalization and signature primitives.</summary>
    private sealed class Crypto(IDkimPublicKeyLocator locator) : DkimVerifierBase(locator)
    {
        public static bool BodyHashMatches(FormatOptions options, MimeMessage message, DkimSignatureAlgorithm algorithm,
            DkimCanonicalizationAlgorithm canonicalization, int maxLength, string bodyHash) =>
            VerifyBodyHash(options, message, algorithm, canonicalization, maxLength, bodyHash);

        public bool SignatureMatches(FormatOptions options, MimeMessage message, Header header, DkimSignatureAlgorithm algorithm,
            AsymmetricKeyParameter key, string[] headers, DkimCanonicalizationAlgorithm canonicalization, string signature) =>
            VerifySignature(options, message, header, algorithm, key, headers, canonicalization, signature);
    }
}
