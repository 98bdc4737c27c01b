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
            if (!loaded.HasPrivateKey) throw new HostFailureException(ExitCodes.Config, $"TLS certificate '{path}'", "has no private key", "Tls:CertificatePath");
            return loaded;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HostFailureException(ExitCodes.Config, $"TLS certificate '{path}'", $"cannot be read: {e.Message}", "Tls:CertificatePath", e);
        }
        catch (CryptographicException e) when (e.InnerException is IOException or UnauthorizedAccessException)
        {
            // The loader wraps the file's own errors (not found, a directory, no permission).
            throw new HostFailureException(ExitCodes.Config, $"TLS certificate '{path}'", $"cannot be read: {e.InnerException.Message}", "Tls:CertificatePath", e);
        }
        catch (CryptographicException e)
        {
            throw new HostFailureException(ExitCodes.Config, $"TLS certificate '{path}'", $"not a PKCS#12 (PFX) file, or the password is wrong: {e.Message}",
                "Tls:CertificatePath, Tls:CertificatePassword", e);
        }
    }
}
