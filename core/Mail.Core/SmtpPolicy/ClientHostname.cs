using System.Net;
using Mail.Core.Ports;
using Mail.Core.Listening;

namespace Mail.Core.SmtpPolicy;

public enum ClientHostnameStatus
{
    /// <summary>Forward-confirmed: a PTR name whose A/AAAA records include the client address.</summary>
    Verified,
    /// <summary>No PTR record (NXDOMAIN or NODATA): permanent.</summary>
    NoPtr,
    /// <summary>PTR name(s) exist but resolve to no address (NXDOMAIN/NODATA): permanent.</summary>
    NoForward,
    /// <summary>PTR name(s) resolve, but not back to the client address: permanent.</summary>
    Mismatch,
    /// <summary>A lookup failed (timeout, SERVFAIL): nothing is known, answer 4xx.</summary>
    TempFail,
}

/// <param name="ReverseName">The first PTR name (unverified), Postfix's reverse_client_name; null without PTR.</param>
/// <param name="VerifiedName">The forward-confirmed name, Postfix's client_name; null unless <see cref="Status"/> is Verified.</param>
/// <param name="ReverseTempFail">The PTR lookup itself failed temporarily (for reject_unknown_reverse_client_hostname).</param>
public sealed record ClientHostnameResult(ClientHostnameStatus Status, string? ReverseName, string? VerifiedName, bool ReverseTempFail, string Detail)
{
    public bool IsVerified => Status == ClientHostnameStatus.Verified;
}

/// <summary>
/// Forward-confirmed reverse DNS (FCrDNS) as Postfix computes client_name and reverse_client_name:
/// PTR lookup of the client address, then A (IPv4) or AAAA (IPv6) lookup of each PTR name (at most
/// <see cref="MaxPtrNames"/>: a PTR set of hundreds is an attack) until one maps back to the client address.
/// The one FCrDNS of the system: the SMTP edge's connect-time "fcrdns" result and the restrictions'
/// client_name both come from here. A lookup failure is <see cref="ClientHostnameStatus.TempFail"/>, never a
/// permanent status.
/// </summary>
public sealed class ClientHostname(IDnsResolver dns)
{
    public const int MaxPtrNames = 10;

    public async Task<ClientHostnameResult> ResolveAsync(IPAddress client, CancellationToken cancellationToken = default)
    {
        client = client.Unmapped();
        var ptr = await dns.PtrAsync(client, cancellationToken);
        if (ptr.Status == DnsStatus.Failed)
            return new ClientHostnameResult(ClientHostnameStatus.TempFail, null, null, true, $"PTR lookup for {client} failed: {ptr.Error}");
        if (ptr.Records.Count == 0)
            return new ClientHostnameResult(ClientHostnameStatus.NoPtr, null, null, false, $"no PTR record for {client}");

        var reverse = ptr.Records[0].TrimEnd('.').ToLowerInvariant();
        var anyTemp = false;
        var anyAddress = false;
        foreach (var name in ptr.Records.Take(MaxPtrNames))
        {
            var host = name.TrimEnd('.').ToLowerInvariant();
            if (host.Length == 0) continue;
            var fwd = client.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                ? await dns.AAsync(host, cancellationToken)
                : await dns.AaaaAsync(host, cancellationToken);
            if (fwd.Status == DnsStatus.Failed)
            {
                anyTemp = true;
                continue;
            }
            if (fwd.Records.Count > 0) anyAddress = true;
            if (fwd.Records.Any(a => a.Equals(client)))
                return new ClientHostnameResult(ClientHostnameStatus.Verified, reverse, host, false, $"{client} is {host}");
        }
        // A temporary failure on any name might have hidden the match: do not call that permanent.
        if (anyTemp)
            return new ClientHostnameResult(ClientHostnameStatus.TempFail, reverse, null, false, $"address lookup for {reverse} failed");
        return anyAddress
            ? new ClientHostnameResult(ClientHostnameStatus.Mismatch, reverse, null, false, $"{reverse} does not resolve to {client}")
            : new ClientHostnameResult(ClientHostnameStatus.NoForward, reverse, null, false, $"{reverse} has no address record");
    }
}
