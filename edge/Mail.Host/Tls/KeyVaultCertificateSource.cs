using System.Security.Cryptography;
using Azure.Core;
using Azure.Security.KeyVault.Secrets;
using Mail.Core.Tls;

namespace Mail.Host.Tls;

/// <summary>
/// "Tls:KeyVaultCertificate": https://VAULT.vault.azure.net/certificates/NAME (the newest version, polled) or
/// .../certificates/NAME/VERSION (pinned). Key Vault keeps a certificate's private key in the secret of the same
/// name, as a PFX (application/x-pkcs12, base64) or PEM (application/x-pem-file); reading it needs the "Key Vault
/// Secrets User" role for the managed identity. A new version is noticed by the secret's version id.
/// </summary>
public sealed class KeyVaultCertificateSource : ICertificateSource
{
    private readonly SecretClient _client;
    private readonly string _name;
    private readonly string? _version;
    private string? _seen;

    public KeyVaultCertificateSource(Uri certificateId, TokenCredential credential)
    {
        (_name, _version) = Parse(certificateId);
        Name = $"Key Vault {certificateId}";
        _client = new SecretClient(new Uri(certificateId.GetLeftPart(UriPartial.Authority)), credential);
    }

    public string Name { get; }

    public string Setting => "Tls:KeyVaultCertificate";

    /// <summary>The certificate's name and version (null: the newest) from its identifier; throws ArgumentException.</summary>
    public static (string Name, string? Version) Parse(Uri certificateId)
    {
        var segments = certificateId.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (certificateId.Scheme != Uri.UriSchemeHttps || segments.Length is < 2 or > 3 || segments[0] != "certificates")
            throw new ArgumentException($"'{certificateId}' is not a Key Vault certificate identifier (https://VAULT.vault.azure.net/certificates/NAME)");
        return (segments[1], segments.Length == 3 ? segments[2] : null);
    }

    public async Task<CertificateChain?> ReadIfChangedAsync(CancellationToken ct)
    {
        KeyVaultSecret secret = await _client.GetSecretAsync(_name, _version, ct);
        if (secret.Properties.Version == _seen) return null;
        _seen = secret.Properties.Version;
        return secret.Properties.ContentType switch
        {
            "application/x-pem-file" => CertificateParser.FromPem(secret.Value, null),
            "application/x-pkcs12" or null => CertificateParser.FromPkcs12(Convert.FromBase64String(secret.Value), null),
            var other => throw new CryptographicException($"the secret's content type is '{other}', not application/x-pkcs12 or application/x-pem-file"),
        };
    }
}
