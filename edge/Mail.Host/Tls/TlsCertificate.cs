using System.Security.Cryptography;
using Azure.Identity;
using Mail.Core.Tls;
using Mail.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Tls;

/// <summary>The certificate SMTP and IMAP share, and what keeps it current: a reloader polling a file or Key Vault,
/// or the ACME renewer (both null for the self-signed one).</summary>
public sealed record TlsSetup(ServerCertificate Certificate, CertificateReloader? Reloader, Acme.AcmeRenewer? Acme = null);

/// <summary>
/// The certificate for STARTTLS and implicit TLS, SMTP and IMAP alike: "Tls:KeyVaultCertificate" (Azure, through the
/// managed identity), else "Tls:CertificatePath" (PFX with "Tls:CertificatePassword", or PEM with "Tls:KeyPath"), both
/// polled every "Tls:ReloadInterval" for a renewed one; else a self-signed one made once and kept in the data directory.
/// </summary>
public static class TlsCertificate
{
    public static readonly TimeSpan DefaultReloadInterval = TimeSpan.FromMinutes(5);

    public static async Task<TlsSetup> LoadAsync(IConfiguration configuration, DataLayout data, string hostName, ILogger log, CancellationToken cancellationToken)
    {
        if (Acme.AcmeSettings.Read(configuration) is { } acme) return await LoadAcmeAsync(configuration, acme, data, hostName, log, cancellationToken);
        var source = Source(configuration);
        if (source is null)
        {
            var cert = SelfSignedCertificate.LoadOrCreate(data.SelfSignedCertificatePath, hostName);
            log.LogInformation("TLS: self-signed certificate for {Host} ({Path}); set Tls:CertificatePath or Tls:KeyVaultCertificate for a real one", hostName, data.SelfSignedCertificatePath);
            return new TlsSetup(new ServerCertificate(cert), null);
        }
        var interval = configuration.GetValue("Tls:ReloadInterval", DefaultReloadInterval);
        if (interval <= TimeSpan.Zero)
            throw new ConfigurationException($"Tls:ReloadInterval must be positive (got '{configuration["Tls:ReloadInterval"]}')");
        var chain = await FirstAsync(source, $"TLS certificate '{Nonblank(configuration["Tls:KeyVaultCertificate"]) ?? configuration["Tls:CertificatePath"]}'", cancellationToken);
        log.LogInformation("TLS: certificate from {Source}: {Subject}, valid until {NotAfter:u}; looked at again every {Interval}",
            source.Name, chain.Leaf.Subject, chain.Leaf.NotAfter.ToUniversalTime(), interval);
        var certificate = new ServerCertificate(chain);
        return new TlsSetup(certificate, new CertificateReloader(certificate, source, interval, log));
    }

    /// <summary>
    /// "Tls:Acme:Directory": the certificate obtained before (data/acme/certificate.pem) if there is one, else the
    /// self-signed one until the CA has issued; the renewer obtains, renews and swaps it in while mail is served.
    /// </summary>
    private static async Task<TlsSetup> LoadAcmeAsync(IConfiguration configuration, Acme.AcmeSettings acme, DataLayout data, string hostName, ILogger log, CancellationToken cancellationToken)
    {
        if (Nonblank(configuration["Tls:KeyVaultCertificate"]) is not null || Nonblank(configuration["Tls:CertificatePath"]) is not null)
            throw new HostFailureException(ExitCodes.Config, "TLS certificate", "Tls:Acme:Directory is set with Tls:CertificatePath or Tls:KeyVaultCertificate; set one",
                "Tls:Acme:Directory, Tls:CertificatePath, Tls:KeyVaultCertificate");
        var source = new Acme.AcmeCertificateSource(data.Secrets);
        ServerCertificate certificate;
        CertificateChain? stored = null;
        try
        {
            stored = await source.ReadIfChangedAsync(cancellationToken);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException)
        {
            log.LogWarning("TLS: the ACME certificate kept in {Path} cannot be read ({Reason}); a new one is asked for", data.Secrets.PathOf(Acme.AcmeCertificateSource.SecretName), e.Message);
        }
        if (stored is not null)
        {
            certificate = new ServerCertificate(stored);
            log.LogInformation("TLS: ACME certificate kept from before: {Subject}, serial {Serial}, valid until {NotAfter:u}", stored.Leaf.Subject, stored.Leaf.SerialNumber, stored.Leaf.NotAfter.ToUniversalTime());
        }
        else
        {
            certificate = new ServerCertificate(SelfSignedCertificate.LoadOrCreate(data.SelfSignedCertificatePath, hostName));
            log.LogInformation("TLS: self-signed certificate for {Host} until the ACME CA {Directory} issues one", hostName, acme.Directory);
        }
        var reloader = new CertificateReloader(certificate, source, DefaultReloadInterval, log);
        var names = Acme.AcmeRenewer.DefaultNames(hostName, data.Directory, Nonblank(configuration[Http.Autoconfig.AutoconfigServer.EndpointSetting]) is not null,
            Nonblank(configuration[Http.Autoconfig.AutoconfigServer.HttpsEndpointSetting]) is not null);
        var renewer = new Acme.AcmeRenewer(acme, source, reloader, data.Secrets, new Core.Tls.Acme.AcmeHttp01Challenges(), names, log);
        return new TlsSetup(certificate, null, renewer);
    }

    private static string? Nonblank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static ICertificateSource? Source(IConfiguration configuration)
    {
        var vault = configuration["Tls:KeyVaultCertificate"];
        var path = configuration["Tls:CertificatePath"];
        var keyPath = configuration["Tls:KeyPath"];
        if (!string.IsNullOrWhiteSpace(vault))
        {
            if (!string.IsNullOrWhiteSpace(path))
                throw new HostFailureException(ExitCodes.Config, "TLS certificate", "both Tls:KeyVaultCertificate and Tls:CertificatePath are set; set one", "Tls:KeyVaultCertificate, Tls:CertificatePath");
            try
            {
                if (!Uri.TryCreate(vault.Trim(), UriKind.Absolute, out var id)) throw new ArgumentException($"'{vault}' is not a URL");
                KeyVaultCertificateSource.Parse(id);
                var credential = new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = configuration["Azure:ManagedIdentityClientId"] });
                return new KeyVaultCertificateSource(id, credential);
            }
            catch (ArgumentException e)
            {
                throw new HostFailureException(ExitCodes.Config, "TLS certificate", e.Message, "Tls:KeyVaultCertificate", e);
            }
        }
        if (string.IsNullOrWhiteSpace(path))
        {
            if (!string.IsNullOrWhiteSpace(keyPath))
                throw new HostFailureException(ExitCodes.Config, "TLS certificate", "Tls:KeyPath is set without Tls:CertificatePath", "Tls:CertificatePath");
            return null;
        }
        return new CertificateFileSource(path, string.IsNullOrWhiteSpace(keyPath) ? null : keyPath, configuration["Tls:CertificatePassword"]);
    }

    /// <summary>The first read, at startup: any failure stops the start with one line naming the setting.</summary>
    private static async Task<CertificateChain> FirstAsync(ICertificateSource source, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await source.ReadIfChangedAsync(cancellationToken)
                ?? throw new InvalidOperationException("the certificate source returned nothing on its first read");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HostFailureException(ExitCodes.Config, what, $"cannot be read: {e.Message}", source.Setting, e);
        }
        catch (CryptographicException e) when (e.InnerException is IOException or UnauthorizedAccessException)
        {
            // The loader wraps the file's own errors (not found, a directory, no permission).
            throw new HostFailureException(ExitCodes.Config, what, $"cannot be read: {e.InnerException.Message}", source.Setting, e);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException)
        {
            throw new HostFailureException(ExitCodes.Config, what, $"not a PKCS#12 (PFX) file, nor PEM with its private key, or the password is wrong: {e.Message}",
                $"{source.Setting}, Tls:CertificatePassword", e);
        }
        catch (Azure.RequestFailedException e)
        {
            throw new HostFailureException(ExitCodes.Unavailable, what, $"Key Vault refused: {e.Status} {e.ErrorCode} (the identity needs the Key Vault Secrets User role)", source.Setting, e);
        }
    }
}
