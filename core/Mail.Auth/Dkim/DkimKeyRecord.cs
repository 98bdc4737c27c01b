using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Mail.Core.Caching;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mail.Auth.Dkim;

/// <summary>A DKIM key record published at selector._domainkey.domain (RFC 6376 3.6.1, RFC 8463).</summary>
public sealed record DkimKeyRecord
{
    /// <summary>k=: "rsa" (default) or "ed25519".</summary>
    public string KeyType { get; init; } = "rsa";
    /// <summary>h=: acceptable hash algorithms, or null for "all".</summary>
    public IReadOnlyList<string>? Hashes { get; init; }
    /// <summary>s=: service types ("email", "*"); default "*".</summary>
    public IReadOnlyList<string> ServiceTypes { get; init; } = ["*"];
    /// <summary>t=: flags ("y" testing, "s" strict identity).</summary>
    public IReadOnlyList<string> Flags { get; init; } = [];
    /// <summary>p= decoded; empty when the key is revoked.</summary>
    public required byte[] PublicKeyData { get; init; }

    public bool IsTesting => Flags.Contains("y");
    public bool IsStrictIdentity => Flags.Contains("s");
    public bool IsRevoked => PublicKeyData.Length == 0;

    /// <summary>Parses a key record; null with an error (a permerror) when malformed.</summary>
    public static DkimKeyRecord? Parse(string txt, out string? error)
    {
        var tags = TagList.Parse(txt, out error);
        if (tags is null) return null;
        // v= is optional, but when present it must be the first tag and say DKIM1.
        var first = txt.TrimStart().Split('=', 2)[0].Trim();
        if (tags.TryGetValue("v", out var v) && (v != "DKIM1" || first != "v"))
        {
            error = $"key record has invalid v={v}";
            return null;
        }
        if (!tags.TryGetValue("p", out var p))
        {
            error = "key record has no p= tag";
            return null;
        }
        byte[] data;
        try
        {
            data = Convert.FromBase64String(TagList.StripWhitespace(p));
        }
        catch (FormatException)
        {
            error = "key record p= is not base64";
            return null;
        }
        static string[] ColonList(string s) => s.Split(':').Select(x => x.Trim().ToLowerInvariant()).Where(x => x.Length > 0).ToArray();
        return new DkimKeyRecord
        {
            KeyType = tags.TryGetValue("k", out var k) ? k.Trim().ToLowerInvariant() : "rsa",
            Hashes = tags.TryGetValue("h", out var h) ? ColonList(h) : null,
            ServiceTypes = tags.TryGetValue("s", out var s) ? ColonList(s) : ["*"],
            Flags = tags.TryGetValue("t", out var t) ? ColonList(t) : [],
            PublicKeyData = data,
        };
    }

    // Decoding an RSA key is expensive (BouncyCastle validates the modulus: tens of milliseconds), while a busy MX
    // sees the same few keys all day. Decoded keys are public data; the cache is bounded by clearing it when full.
    private static readonly ClearingCache<string, AsymmetricKeyParameter> s_decoded = new(MaxDecodedKeys, StringComparer.Ordinal);
    private const int MaxDecodedKeys = 4096;

    /// <summary>Decodes p= for k=; null with an error when the key cannot be used.</summary>
    public AsymmetricKeyParameter? DecodeKey(out string? error)
    {
        // Records are parsed once per distinct TXT text (DkimKeyLookup), so the decoded key is also found by the
        // record instance (by reference, not record equality): no base64 of the key per message for the shared cache.
        if (s_byRecord.TryGetValue(this, out var decoded))
        {
            error = null;
            return decoded;
        }
        var key = DecodeShared(out error);
        if (key is not null) s_byRecord.AddOrUpdate(this, key);
        return key;
    }

    private static readonly ConditionalWeakTable<DkimKeyRecord, AsymmetricKeyParameter> s_byRecord = new();

    private AsymmetricKeyParameter? DecodeShared(out string? error)
    {
        var cacheKey = KeyType + ":" + Convert.ToBase64String(PublicKeyData);
        if (s_decoded.TryGetValue(cacheKey, out var cached))
        {
            error = null;
            return cached;
        }
        var key = Decode(out error);
        if (key is not null)
        {
            s_decoded.Set(cacheKey, key);
        }
        return key;
    }

    // The same keys as OpenSSL objects: importing costs far more than a verification, so each decoded RSA key is
    // imported once and lives as long as its decoded form stays cached.
    private static readonly ConditionalWeakTable<RsaKeyParameters, RSA> s_native = new();

    /// <summary>The OpenSSL-backed RSA public key for a key decoded by <see cref="DecodeKey"/>, imported once.</summary>
    public static RSA NativeRsa(RsaKeyParameters key) => s_native.GetValue(key, static k =>
    {
        var rsa = RSA.Create();
        rsa.ImportParameters(new RSAParameters { Modulus = k.Modulus.ToByteArrayUnsigned(), Exponent = k.Exponent.ToByteArrayUnsigned() });
        return rsa;
    });

    private AsymmetricKeyParameter? Decode(out string? error)
    {
        error = null;
        try
        {
            switch (KeyType)
            {
                case "ed25519":
                    if (PublicKeyData.Length != Ed25519PublicKeyParameters.KeySize)
                    {
                        error = "ed25519 key is not 32 octets";
                        return null;
                    }
                    return new Ed25519PublicKeyParameters(PublicKeyData, 0);
                case "rsa":
                    try
                    {
                        return PublicKeyFactory.CreateKey(SubjectPublicKeyInfo.GetInstance(Asn1Object.FromByteArray(PublicKeyData)));
                    }
                    catch (Exception e) when (e is ArgumentException or InvalidCastException or IOException or InvalidOperationException)
                    {
                        // Some publishers put a bare PKCS#1 RSAPublicKey in p=; accept it like dkimpy does.
                        var rsa = RsaPublicKeyStructure.GetInstance(Asn1Object.FromByteArray(PublicKeyData));
                        return new RsaKeyParameters(false, rsa.Modulus, rsa.PublicExponent);
                    }
                default:
                    error = $"unknown key type k={KeyType}";
                    return null;
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidCastException or IOException or InvalidOperationException)
        {
            error = "public key data is not a valid " + KeyType + " key";
            return null;
        }
    }
}
