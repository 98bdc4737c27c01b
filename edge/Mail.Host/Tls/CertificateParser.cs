using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mail.Core.Tls;

namespace Mail.Host.Tls;

/// <summary>
/// Reads a server certificate with its private key from the two shapes certificates are kept in: PKCS#12 (PFX) and
/// PEM (certificate, then the intermediates, with the key in the same text or beside it: Let's Encrypt's fullchain.pem
/// and privkey.pem, or a Key Vault secret of content type application/x-pem-file). Throws CryptographicException.
/// </summary>
public static class CertificateParser
{
    public static bool LooksLikePem(ReadOnlySpan<byte> data) => data.TrimStart(" \t\r\n"u8).StartsWith("-----BEGIN"u8);

    public static CertificateChain FromPkcs12(byte[] pfx, string? password)
    {
        var all = X509CertificateLoader.LoadPkcs12Collection(pfx, password, X509KeyStorageFlags.Exportable);
        var leaf = all.FirstOrDefault(c => c.HasPrivateKey) ?? throw new CryptographicException("no certificate in it has a private key");
        return new CertificateChain(leaf, [.. all.Where(c => !ReferenceEquals(c, leaf))]);
    }

    /// <param name="certificatesPem">The certificate first, then its intermediates.</param>
    /// <param name="keyPem">The private key; null when it is in <paramref name="certificatesPem"/>.</param>
    public static CertificateChain FromPem(string certificatesPem, string? keyPem)
    {
        // The returned chain owns the leaf (it is the certificate SslStream presents until the next reload).
#pragma warning disable CA2000
        var leaf = X509Certificate2.CreateFromPem(certificatesPem, keyPem ?? certificatesPem);
#pragma warning restore CA2000
        var all = new X509Certificate2Collection();
        all.ImportFromPem(certificatesPem);
        return new CertificateChain(leaf, [.. all.Skip(1)]);
    }
}
