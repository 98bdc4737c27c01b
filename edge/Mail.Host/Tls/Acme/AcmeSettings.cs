using System.Net;
using System.Security.Cryptography.X509Certificates;
using Mail.Configuration;
using Mail.Core.Tls.Acme;
using Microsoft.Extensions.Configuration;

namespace Mail.Host.Tls.Acme;

/// <summary>
/// Section "Tls:Acme": the certificate obtained and renewed from an ACME CA (RFC 8555). "Tls:Acme:Directory" turns it
/// on. Every wrong value is one line naming its setting, before anything listens.
/// </summary>
public sealed record AcmeSettings(Uri Directory, string? Email, IReadOnlyList<string>? Names, IPEndPoint HttpEndpoint)
{
    public const string DirectorySetting = "Tls:Acme:Directory";
    public static readonly TimeSpan DefaultRetryInterval = TimeSpan.FromMinutes(5);

    /// <summary>"Tls:Acme:Challenge": only http-01 is answered (TLS-ALPN-01 is not built).</summary>
    public string Challenge { get; init; } = AcmeChallenge.Http01;

    /// <summary>"Tls:Acme:RenewBefore": renew this long before expiry; null (the default) renews at 2/3 of the lifetime.</summary>
    public TimeSpan? RenewBefore { get; init; }

    /// <summary>"Tls:Acme:RetryInterval", default 5 minutes: the first wait after a failure, doubled after each to 12 hours.</summary>
    public TimeSpan RetryInterval { get; init; } = DefaultRetryInterval;

    /// <summary>"Tls:Acme:DirectoryCaPath": the CA (PEM) that the directory's own HTTPS certificate is checked against,
    /// in place of the system's roots. For test CAs such as Pebble's; a public CA needs nothing.</summary>
    public X509Certificate2Collection? DirectoryRoots { get; init; }

    /// <summary>Null when "Tls:Acme:Directory" is not set.</summary>
    public static AcmeSettings? Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("Tls:Acme");
        var directory = section["Directory"]?.Trim();
        if (string.IsNullOrEmpty(directory))
        {
            foreach (var other in section.GetChildren())
                if (!string.IsNullOrWhiteSpace(other.Value) || other.GetChildren().Any())
                    throw new ConfigurationException($"Tls:Acme:{other.Key} is set without {DirectorySetting} (the CA's directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory)");
            return null;
        }
        if (!Uri.TryCreate(directory, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps)
            throw new ConfigurationException($"{DirectorySetting} '{directory}' is not an https URL (RFC 8555 requires HTTPS), e.g. https://acme-v02.api.letsencrypt.org/directory");
        var email = section["Email"]?.Trim();
        if (string.IsNullOrEmpty(email)) email = null;
        else if (email.IndexOf('@', StringComparison.Ordinal) is var at && (at <= 0 || at == email.Length - 1 || email.Any(c => c is ' ' or ',' or '<' or '>')))
            throw new ConfigurationException($"Tls:Acme:Email '{email}' is not an email address (the CA writes to it about expiring certificates)");
        var challenge = section["Challenge"]?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(challenge)) challenge = AcmeChallenge.Http01;
        else if (challenge == AcmeChallenge.TlsAlpn01)
            throw new ConfigurationException("Tls:Acme:Challenge tls-alpn-01 is not supported yet: use http-01 (served on Tls:Acme:HttpEndpoint, port 80 by default)");
        else if (challenge != AcmeChallenge.Http01)
            throw new ConfigurationException($"Tls:Acme:Challenge must be http-01 (got '{section["Challenge"]}')");
        var renewBefore = Duration(section, "RenewBefore");
        var retry = Duration(section, "RetryInterval") ?? DefaultRetryInterval;
        return new AcmeSettings(url, email, ReadNames(section), EndpointSetting.Read(configuration, "Tls:Acme:HttpEndpoint", "0.0.0.0:80") ?? new IPEndPoint(IPAddress.Any, 80))
        {
            Challenge = challenge,
            RenewBefore = renewBefore,
            RetryInterval = retry,
            DirectoryRoots = Roots(section["DirectoryCaPath"]),
        };
    }

    /// <summary>"Tls:Acme:Names": a list (Names:0, Names:1, ...) or one comma-separated value; null for the default.</summary>
    private static List<string>? ReadNames(IConfigurationSection section)
    {
        var names = section.GetSection("Names");
        var values = names.GetChildren().Any()
            ? names.GetChildren().Select(c => c.Value ?? "")
            : (names.Value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var list = values.Select(v => v.Trim().TrimEnd('.').ToLowerInvariant()).Where(v => v.Length > 0).Distinct().ToList();
        foreach (var name in list)
            if (!IsHostName(name))
                throw new ConfigurationException($"Tls:Acme:Names '{name}' is not a host name (HTTP-01 proves DNS names only: no address, no wildcard)");
        return list.Count == 0 ? null : list;
    }

    public static bool IsHostName(string name) =>
        name.Length is > 0 and <= 253 && name.Contains('.', StringComparison.Ordinal) && !IPAddress.TryParse(name, out _)
        && name.Split('.').All(l => l.Length is > 0 and <= 63 && l[0] != '-' && l[^1] != '-' && l.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'));

    private static TimeSpan? Duration(IConfigurationSection section, string key)
    {
        var value = section[key]?.Trim();
        if (string.IsNullOrEmpty(value)) return null;
        if (!TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var duration) || duration <= TimeSpan.Zero)
            throw new ConfigurationException($"Tls:Acme:{key} must be a positive duration such as 30.00:00:00 (got '{value}')");
        return duration;
    }

    private static X509Certificate2Collection? Roots(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) return null;
        try
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(path);
            if (roots.Count == 0) throw new FormatException("no certificate in it");
            return roots;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or System.Security.Cryptography.CryptographicException)
        {
            throw new ConfigurationException($"Tls:Acme:DirectoryCaPath '{path}' cannot be read as PEM certificates: {e.Message}");
        }
    }
}
