using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;
using Mail.Core.Tls;

namespace Mail.Host.Tls.Acme;

/// <summary>
/// The certificate the ACME client obtained, kept as one secret (chain then key, PEM: data/acme/certificate.pem,
/// mode 0600), read by the <see cref="CertificateReloader"/> like any other source. Null while there is none yet.
/// </summary>
public sealed class AcmeCertificateSource(ISecretStore secrets) : ICertificateSource
{
    public const string SecretName = "acme/certificate.pem";
    private byte[]? _seen;

    public string Name => "ACME";

    public string Setting => AcmeSettings.DirectorySetting;

    /// <summary>The stored PEM (chain and key); null when none was obtained yet.</summary>
    public Task<string?> ReadPemAsync(CancellationToken ct) => secrets.GetAsync(SecretName, ct);

    /// <summary>Replaces the stored certificate. A secret is never rewritten in place: the old one goes, the new one
    /// is created whole (a crash between the two leaves none, and the next start obtains one again).</summary>
    public async Task StoreAsync(string pem, CancellationToken ct)
    {
        await secrets.DeleteAsync(SecretName, ct);
        await secrets.CreateAsync(SecretName, pem, ct);
    }

    public async Task<CertificateChain?> ReadIfChangedAsync(CancellationToken ct)
    {
        if (await ReadPemAsync(ct) is not { } pem) return null;
        var version = SHA256.HashData(Encoding.UTF8.GetBytes(pem));
        if (_seen is not null && version.AsSpan().SequenceEqual(_seen)) return null;
        _seen = version;
        return CertificateParser.FromPem(pem, null);
    }
}
