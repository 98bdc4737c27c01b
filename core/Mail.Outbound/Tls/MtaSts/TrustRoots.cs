using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mail.Outbound.Tls.MtaSts;

/// <summary>
/// PKIX verification of a server certificate as RFC 8461 3.3 and 4.2 ask (policy server and MX host): the chain ends
/// at a trusted root — the system's, or one of <see cref="OutboundOptions.TlsCaFile"/> — and the certificate is valid
/// for the name we connected to (RFC 6125, one "*" label at most).
/// </summary>
public sealed class TrustRoots
{
    private readonly X509Certificate2Collection _extra;

    private TrustRoots(X509Certificate2Collection extra) => _extra = extra;

    /// <summary>The system roots plus the PEM certificates of <paramref name="caFile"/> (none when empty). Throws
    /// <see cref="ArgumentException"/> naming Outbound:TlsCaFile when the file cannot be used.</summary>
    public static TrustRoots Load(string? caFile)
    {
        var extra = new X509Certificate2Collection();
        if (string.IsNullOrWhiteSpace(caFile)) return new TrustRoots(extra);
        try
        {
            extra.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"Outbound:TlsCaFile: cannot read certificates from {caFile}: {e.Message}");
        }
        if (extra.Count == 0) throw new ArgumentException($"Outbound:TlsCaFile: {caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        return new TrustRoots(extra);
    }

    /// <summary>Null when the certificate is trusted and valid for <paramref name="host"/>, else why not (one line).
    /// Takes what a TLS stack's validation callback gets; revocation is not checked (as Postfix).</summary>
    public string? Verify(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, string host)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable)) return $"{host} presented no certificate";
        using var leaf = new X509Certificate2(certificate);
        if (!leaf.MatchesHostname(host.TrimEnd('.'))) return $"certificate of {host} is not valid for that name (subject {leaf.Subject})";
        if (!errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors)) return null;
        if (_extra.Count == 0) return $"certificate of {host} does not chain to a trusted root ({Status(chain)})";
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_extra);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            // What the server sent beyond its own certificate (intermediates).
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
            foreach (var element in chain.ChainElements) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        return custom.Build(leaf) ? null : $"certificate of {host} does not chain to a trusted root ({Status(custom)})";
    }

    private static string Status(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0 ? "no chain" : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
}
