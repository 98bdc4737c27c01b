using Mail.Core.Tls;

namespace Mail.Host.Tls;

/// <summary>Where the server certificate comes from, asked again from time to time for a renewed one.</summary>
public interface ICertificateSource
{
    /// <summary>For log lines: "file /etc/mail/cert.pem", "Key Vault https://v.vault.azure.net/certificates/mail".</summary>
    string Name { get; }

    /// <summary>The setting an operator looks at when the certificate cannot be read.</summary>
    string Setting { get; }

    /// <summary>
    /// The certificate when it differs from the one this source returned (or failed to read) last time; null when it
    /// has not changed. A version that failed is not read again until it changes, so a bad file is reported once.
    /// Throws when the new version cannot be read.
    /// </summary>
    Task<CertificateChain?> ReadIfChangedAsync(CancellationToken ct);
}
