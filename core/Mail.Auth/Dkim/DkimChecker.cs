using System.Security.Cryptography;
using Mail.Core.Ports;
using MimeKit;
using Mail.Core.Messages;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mail.Auth.Dkim;

/// <summary>
/// Verifies every DKIM-Signature of a message (RFC 6376, RFC 8463) and gives each a result with a reason: tag
/// validation, x= expiry, t=y, key tags h= s= k= t=s, revoked keys, l= with unsigned content, rsa-sha1, small RSA
/// keys, DNS failure versus missing key. Works on the stored bytes (<see cref="RawMessage"/>): the body hash and
/// the header hash are canonicalized from them by <see cref="DkimBodyHash"/> and <see cref="DkimHeaderHash"/>;
/// RSA verifies through OpenSSL (System.Security.Cryptography), Ed25519 through BouncyCastle (.NET 10 has no
/// public Ed25519 type), each key decoded once.
/// </summary>
public sealed class DkimChecker
{
    private readonly DkimKeyLookup _keys;
    private readonly DkimOptions _options;
    private readonly TimeProvider _time;

    public DkimChecker(IDnsResolver dns, DkimOptions? options = null, TimeProvider? time = null)
    {
        _keys = new DkimKeyLookup(dns);
        _options = options ?? new DkimOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Checks a message parsed by MimeKit: verifies the bytes MimeKit writes for it (its raw header fields
    /// and its body as parsed). Callers that hold the stored original should pass that instead.</summary>
    public Task<IReadOnlyList<DkimResult>> VerifyAsync(MimeMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        using var buffer = new MemoryStream();
        message.WriteTo(FormatOptions.Default, buffer, cancellationToken);
        return VerifyAsync(RawMessage.Parse(buffer.ToArray()), cancellationToken);
    }

    /// <summary>One result per DKIM-Signature field, top to bottom (at most <see cref="DkimOptions.MaxSignatures"/>);
    /// empty when the message is unsigned.</summary>
    public async Task<IReadOnlyList<DkimResult>> VerifyAsync(RawMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        List<DkimResult>? results = null;
        List<BodyHashEntry>? bodyHashes = null;
        for (var i = 0; i < message.Count; i++)
        {
            if (!message.Is(message[i], "DKIM-Signature")) continue;
            results ??= [];
            if (results.Count >= _options.MaxSignatures) break;
            results.Add(await VerifyAsync(message, i, bodyHashes ??= [], cancellationToken));
        }
        return results is null ? [] : results;
    }

    /// <summary>A body hash already computed for this message (several signatures usually share one).</summary>
    private sealed record BodyHashEntry(HashAlgorithmName Algorithm, DkimCanonicalizationAlgorithm Canonicalization, long? Limit, byte[] Hash, long CanonicalLength);

    private async Task<DkimResult> VerifyAsync(RawMessage message, int signatureIndex, List<BodyHashEntry> bodyHashes, CancellationToken cancellationToken)
    {
        var fields = ParseFields(message, message[signatureIndex], out var parseError);
        if (fields is null)
            return new DkimResult { Code = DkimResultCode.PermError, Reason = parseError, HeaderB = HeaderBOf(message.Value(message[signatureIndex])) };

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
            outcome = Verify(message, signatureIndex, fields, algorithm, publicKey, testing, bodyHashes, Result);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Malformed base64 in b=/bh=, a signature of the wrong size, and similar sender-controlled garbage:
            // whatever the parsers or the cryptography throw, the message gets a result, never an exception.
            outcome = Result(DkimResultCode.PermError, "signature could not be processed: " + e.Message, testing);
        }

        // RFC 6376 3.6.1 t=y: the domain is testing DKIM; a failure must not count against the message.
        if (testing && outcome.Code == DkimResultCode.Fail)
            outcome = outcome with { Code = DkimResultCode.Neutral, Reason = outcome.Reason + " (key in testing mode)" };
        return outcome;
    }

    private DkimResult Verify(RawMessage message, int signatureIndex, DkimSignatureFields fields, DkimSignatureAlgorithm algorithm,
        AsymmetricKeyParameter publicKey, bool testing, List<BodyHashEntry> bodyHashes, Func<DkimResultCode, string?, bool, DkimResult> result)
    {
        var hashName = algorithm == DkimSignatureAlgorithm.RsaSha1 ? HashAlgorithmName.SHA1 : HashAlgorithmName.SHA256;
        var body = BodyHash(message, hashName, fields, bodyHashes);
        if (Convert.ToBase64String(body.Hash) != fields.BodyHash)
            return result(DkimResultCode.Fail, "body hash did not verify", testing);
        if (!SignatureMatches(message, signatureIndex, fields, algorithm, hashName, publicKey))
            return result(DkimResultCode.Fail, "signature did not verify", testing);

        // l=: the signed prefix is intact; a longer canonical body has unsigned content after it.
        if (fields.BodyLength is { } signedLength && body.CanonicalLength > signedLength && _options.BodyLengthPolicy == DkimBodyLengthPolicy.Policy)
            return result(DkimResultCode.Policy, $"body has unsigned content after l={fields.BodyLength}", testing);

        return result(DkimResultCode.Pass, testing ? "key in testing mode" : null, testing);
    }

    private static BodyHashEntry BodyHash(RawMessage message, HashAlgorithmName hashName, DkimSignatureFields fields, List<BodyHashEntry> computed)
    {
        foreach (var entry in computed)
        {
            if (entry.Algorithm == hashName && entry.Canonicalization == fields.BodyCanonicalization && entry.Limit == fields.BodyLength) return entry;
        }
        var hash = DkimBodyHash.Compute(message.Body, hashName, fields.BodyCanonicalization, fields.BodyLength, out var length);
        var added = new BodyHashEntry(hashName, fields.BodyCanonicalization, fields.BodyLength, hash, length);
        computed.Add(added);
        return added;
    }

    // RFC 8463: Ed25519 signs the SHA-256 of the canonicalized header fields; RSA (PKCS#1 v1.5) signs the hash.
    private static bool SignatureMatches(RawMessage message, int signatureIndex, DkimSignatureFields fields, DkimSignatureAlgorithm algorithm,
        HashAlgorithmName hashName, AsymmetricKeyParameter publicKey)
    {
        var hash = DkimHeaderHash.Compute(hashName, message, signatureIndex, fields.SignedHeaders, fields.HeaderCanonicalization);
        var signatureBytes = Convert.FromBase64String(fields.Signature);
        switch (publicKey)
        {
            case RsaKeyParameters rsa when algorithm != DkimSignatureAlgorithm.Ed25519Sha256:
                return DkimKeyRecord.NativeRsa(rsa).VerifyHash(hash, signatureBytes, hashName, RSASignaturePadding.Pkcs1);
            case Ed25519PublicKeyParameters ed25519 when algorithm == DkimSignatureAlgorithm.Ed25519Sha256:
                var signer = new Ed25519Signer();
                signer.Init(false, ed25519);
                signer.BlockUpdate(hash, 0, hash.Length);
                return signer.VerifySignature(signatureBytes);
            default:
                return false;
        }
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

    // The tags are read from the unfolded value in a pooled buffer: no string of the whole field per message.
    private static DkimSignatureFields? ParseFields(RawMessage message, RawHeaderField field, out string? error)
    {
        var buffer = System.Buffers.ArrayPool<char>.Shared.Rent(message.RawValue(field).Length);
        try
        {
            return DkimSignatureFields.Parse(message.Unfold(field, buffer), out error);
        }
        finally
        {
            System.Buffers.ArrayPool<char>.Shared.Return(buffer);
        }
    }

    private static string? HeaderBOf(string value)
    {
        var tags = TagList.Parse(value, out _);
        if (tags is null || !tags.TryGetValue("b", out var b)) return null;
        b = TagList.StripWhitespace(b);
        return b.Length > 8 ? b[..8] : b;
    }
}
