using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mail.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Mail.Host;

/// <summary>
/// The certificate for STARTTLS and implicit TLS, SMTP and IMAP alike: "Tls:CertificatePath" (PFX/PKCS#12,
/// with "Tls:CertificatePassword") when set, else a self-signed one made once and kept in the data directory.
/// </summary>
public static class TlsCertificate
{
    public static X509Certificate2 Load(IConfiguration configuration, DataLayout data, string hostName, ILogger log)
    {
        var path = configuration["Tls:CertificatePath"];
        if (string.IsNullOrWhiteSpace(path))
        {
            var cert = SelfSignedCertificate.LoadOrCreate(data.SelfSignedCertificatePath, hostName);
            log.LogInformation("TLS: self-signed certificate for {Host} ({Path}); set Tls:CertificatePath for a real one", hostName, data.SelfSignedCertificatePath);
            return cert;
        }
        try
        {
            var loaded = X509CertificateLoader.LoadPkcs12FromFile(path, configuration["Tls:CertificatePassword"], X509KeyStorageFlags.Exportable);
            if (!loaded.HasPrivateKey) throw new ConfigurationException($"Tls:CertificatePath '{path}' has no private key.");
            return loaded;
        }
        catch (Exception e) when (e is IOException or CryptographicException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"Tls:CertificatePath '{path}' cannot be loaded: {e.Message}");
        }
    }
}
