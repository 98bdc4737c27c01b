using System.Security.Cryptography;
using System.Text;
using Mail.Core.Tls;

namespace Mail.Host.Tls;

/// <summary>
/// "Tls:CertificatePath" (PFX with "Tls:CertificatePassword", or PEM with the key in it or in "Tls:KeyPath"). A new
/// version is noticed by the files' SHA-256, polled: a FileSystemWatcher misses the atomic rename certbot does and
/// the symlink swap of a Kubernetes or Container Instances secret volume, and a file time can stand still.
/// </summary>
public sealed class CertificateFileSource(string certificatePath, string? keyPath, string? password) : ICertificateSource
{
    private byte[]? _seen;

    public string Name => keyPath is null ? $"file {certificatePath}" : $"files {certificatePath} and {keyPath}";

    public string Setting => keyPath is null ? "Tls:CertificatePath" : "Tls:CertificatePath, Tls:KeyPath";

    public async Task<CertificateChain?> ReadIfChangedAsync(CancellationToken ct)
    {
        var certificate = await File.ReadAllBytesAsync(certificatePath, ct);
        var key = keyPath is null ? null : await File.ReadAllBytesAsync(keyPath, ct);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(certificate);
        if (key is not null) hash.AppendData(key);
        var version = hash.GetHashAndReset();
        if (_seen is not null && version.AsSpan().SequenceEqual(_seen)) return null;
        // Remembered before parsing: a file that does not parse is reported once, not at every poll.
        _seen = version;
        if (key is not null || CertificateParser.LooksLikePem(certificate))
            return CertificateParser.FromPem(Encoding.ASCII.GetString(certificate), key is null ? null : Encoding.ASCII.GetString(key));
        return CertificateParser.FromPkcs12(certificate, password);
    }
}
