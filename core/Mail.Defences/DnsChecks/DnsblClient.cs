using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Listening;

namespace Mail.Defences.DnsChecks;

public enum DnsblStatus { NotListed, Listed, TempFail }

/// <param name="Query">The name looked up (e.g. 2.0.0.127.zen.example).</param>
/// <param name="Replies">A records returned (matching or not).</param>
/// <param name="Text">The list's TXT reason when listed (first record), else null.</param>
public sealed record DnsblResult(DnsblSite Site, DnsblStatus Status, string Query, IReadOnlyList<IPAddress> Replies, string? Text)
{
    public bool IsListed => Status == DnsblStatus.Listed;
}

/// <param name="Score">Sum of the weights of the lists that listed the client (postscreen_dnsbl_sites).</param>
public sealed record DnsblScore(int Score, IReadOnlyList<DnsblResult> Results)
{
    public IEnumerable<DnsblResult> Listed => Results.Where(r => r.IsListed);
}

/// <summary>DNSBL (RFC 5782 IP lists) and RHSBL (domain lists) lookups over <see cref="IDnsResolver"/>.</summary>
public sealed class DnsblClient(IDnsResolver dns)
{
    /// <summary>Looks the client address up in an IP list (reject_rbl_client).</summary>
    public Task<DnsblResult> LookupAddressAsync(DnsblSite site, IPAddress client, CancellationToken cancellationToken = default) =>
        LookupAsync(site, ReversedLabels(client) + "." + site.Zone, cancellationToken);

    /// <summary>Looks a domain up in a domain list (reject_rhsbl_client/helo/sender).</summary>
    public Task<DnsblResult> LookupDomainAsync(DnsblSite site, string domain, CancellationToken cancellationToken = default)
    {
        var d = Address.NormalizeDomain(domain) ?? domain.TrimEnd('.').ToLowerInvariant();
        return LookupAsync(site, d + "." + site.Zone, cancellationToken);
    }

    /// <summary>Queries all lists in parallel and sums the weights of those that list the client (postscreen_dnsbl_sites).
    /// A list that fails temporarily contributes nothing.</summary>
    public async Task<DnsblScore> ScoreAsync(IReadOnlyList<DnsblSite> sites, IPAddress client, CancellationToken cancellationToken = default)
    {
        var results = await Task.WhenAll(sites.Select(s => LookupAddressAsync(s, client, cancellationToken)));
        return new DnsblScore(results.Where(r => r.IsListed).Sum(r => r.Site.Weight), results);
    }

    private async Task<DnsblResult> LookupAsync(DnsblSite site, string query, CancellationToken cancellationToken)
    {
        var a = await dns.AAsync(query, cancellationToken);
        if (a.Status == DnsStatus.Failed) return new DnsblResult(site, DnsblStatus.TempFail, query, [], a.Error);
        if (!a.Records.Any(site.Matches)) return new DnsblResult(site, DnsblStatus.NotListed, query, a.Records, null);
        var txt = await dns.TxtAsync(query, cancellationToken);
        return new DnsblResult(site, DnsblStatus.Listed, query, a.Records, txt.Records.Count > 0 ? txt.Records[0] : null);
    }

    /// <summary>"4.3.2.1" for 1.2.3.4; 32 reversed nibbles for IPv6 (RFC 5782 2.1, 2.4).</summary>
    public static string ReversedLabels(IPAddress address)
    {
        address = address.Unmapped();
        var b = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork) return $"{b[3]}.{b[2]}.{b[1]}.{b[0]}";
        var sb = new StringBuilder(64);
        for (var i = b.Length - 1; i >= 0; i--)
        {
            sb.Append("0123456789abcdef"[b[i] & 0xF]).Append('.');
            sb.Append("0123456789abcdef"[b[i] >> 4]).Append('.');
        }
        return sb.ToString(0, sb.Length - 1);
    }
}
