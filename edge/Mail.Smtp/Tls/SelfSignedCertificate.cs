using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mail.Smtp;

/// <summary>
/// The certificate embedded mode uses when none is configured: made once (RSA 2048, SAN = host name),
/// kept as a PFX so STARTTLS clients that pin it keep working across restarts, and renewed when it
/// is about to expire or names another host. Shared by the SMTP edge and the IMAP gateway.
/// </summary>
public static class SelfSignedCertificate
{
    public static X509Certificate2 LoadOrCreate(string pfxPath, string hostName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pfxPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(hostName);
        if (File.Exists(pfxPath))
        {
            var existing = X509CertificateLoader.LoadPkcs12FromFile(pfxPath, null, X509KeyStorageFlags.Exportable);
            if (existing.HasPrivateKey && existing.NotAfter > DateTime.Now.AddDays(7) && existing.MatchesHostname(hostName, allowWildcards: false, allowCommonName: true))
                return existing;
            existing.Dispose();
        }
        var pfx = Create(hostName);
        var dir = Path.GetDirectoryName(Path.GetFullPath(pfxPath));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = pfxPath + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            f.Write(pfx);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, pfxPath, overwrite: true);
        return X509CertificateLoader.LoadPkcs12(pfx, null, X509KeyStorageFlags.Exportable);
    }

    private static byte[] Create(string hostName)
    {
        using var rsa = RSA.Create(2048);
        var req = new CertificateRequest(new X500DistinguishedName($"CN={hostName}"), rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(hostName, out var ip)) san.AddIpAddress(ip);
        else san.AddDnsName(hostName);
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        using var cert = req.CreateSelfSigned(now.AddDays(-1), now.AddDays(825));
        return cert.Export(X509ContentType.Pkcs12);
    }
}
