using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mail.Core.Ports;

namespace Mail.Core.Tls.Acme;

/// <summary>
/// The account's key: ECDSA P-256, signing ES256 (RFC 7518 3.4). The CA knows the account by this key, so it is kept
/// (PKCS#8 PEM, readable by the process alone) and the same account is found again after a restart.
/// </summary>
public sealed class AcmeAccountKey : IDisposable
{
    private readonly ECDsa _key;

    public AcmeAccountKey(ECDsa key)
    {
        if (key.KeySize != 256) throw new ArgumentException("the ACME account key must be P-256", nameof(key));
        _key = key;
        var p = key.ExportParameters(false);
        Jwk = new AcmeJwk("P-256", "EC", Base64Url.Encode(p.Q.X!), Base64Url.Encode(p.Q.Y!));
        // RFC 7638 3: the required members, lexicographic order, no white space.
        var canonical = $$"""{"crv":"{{Jwk.Crv}}","kty":"{{Jwk.Kty}}","x":"{{Jwk.X}}","y":"{{Jwk.Y}}"}""";
        Thumbprint = Base64Url.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    /// <summary>The public key as the "jwk" header of newAccount carries it.</summary>
    public AcmeJwk Jwk { get; }

    /// <summary>RFC 7638 JWK thumbprint (SHA-256, base64url): the second half of a key authorization.</summary>
    public string Thumbprint { get; }

    /// <summary>RFC 8555 8.1: token || '.' || thumbprint, what HTTP-01 serves and TLS-ALPN-01 hashes.</summary>
    public string KeyAuthorization(string token) => $"{token}.{Thumbprint}";

    /// <summary>The secret that holds the key (embedded: data/acme/account.pem, mode 0600).</summary>
    public const string SecretName = "acme/account.pem";

    /// <summary>The kept key, made and kept when there is none yet.</summary>
    public static async Task<AcmeAccountKey> LoadOrCreateAsync(ISecretStore secrets, CancellationToken ct)
    {
        var key = ECDsa.Create();
        if (await secrets.GetAsync(SecretName, ct) is { } pem)
        {
            key.ImportFromPem(pem);
            return new AcmeAccountKey(key);
        }
        key.GenerateKey(ECCurve.NamedCurves.nistP256);
        await secrets.CreateAsync(SecretName, key.ExportPkcs8PrivateKeyPem(), ct);
        return new AcmeAccountKey(key);
    }

    /// <summary>RFC 8555 6.2: a flattened JWS over <paramref name="payload"/> (empty for POST-as-GET).</summary>
    public JwsMessage Sign(JwsHeader header, ReadOnlySpan<byte> payload)
    {
        var protectedPart = Base64Url.Encode(JsonSerializer.SerializeToUtf8Bytes(header, AcmeJson.Default.JwsHeader));
        var payloadPart = payload.IsEmpty ? "" : Base64Url.Encode(payload);
        // ES256's signature is R || S, 32 bytes each (RFC 7518 3.4), not the DER sequence X.509 uses.
        var signature = _key.SignData(Encoding.ASCII.GetBytes($"{protectedPart}.{payloadPart}"), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new JwsMessage(protectedPart, payloadPart, Base64Url.Encode(signature));
    }

    /// <summary>For tests: whether <paramref name="message"/> verifies under this key.</summary>
    public bool Verify(JwsMessage message) =>
        _key.VerifyData(Encoding.ASCII.GetBytes($"{message.Protected}.{message.Payload}"), Base64Url.Decode(message.Signature),
            HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public void Dispose() => _key.Dispose();
}

/// <summary>RFC 4648 5 without padding, as JOSE uses it.</summary>
public static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    public static byte[] Decode(string text) => System.Buffers.Text.Base64Url.DecodeFromChars(text);
}
