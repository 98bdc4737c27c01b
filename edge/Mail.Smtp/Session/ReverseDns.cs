using System.Net;
using System.Net.Sockets;
using Mail.Core.Ports;

namespace Mail.Smtp.Session;

/// <summary>
/// Forward-confirmed reverse DNS (FCrDNS): the client's PTR names, each checked for an A/AAAA record that points
/// back at the client. "pass" with the confirmed name; "fail" when there is no PTR or no name points back;
/// "temperror" when DNS failed and nothing was confirmed (a failure must never read as "fail").
/// </summary>
internal static class ReverseDns
{
    /// <summary>Names tried per client (Postfix and most MTAs look at a handful; a PTR set of hundreds is an attack).</summary>
    private const int MaxNames = 10;

    public static async Task<(string Result, string? Name)> CheckAsync(IDnsResolver dns, IPAddress client, CancellationToken ct)
    {
        if (client.IsIPv4MappedToIPv6) client = client.MapToIPv4();
        DnsResult<string> ptr;
        try
        {
            ptr = await dns.PtrAsync(client, ct);
        }
        catch (OperationCanceledException)
        {
            return ("temperror", null);
        }
        if (ptr.Status == DnsStatus.Failed) return ("temperror", null);
        if (ptr.IsEmpty) return ("fail", null);
        var failed = false;
        foreach (var raw in ptr.Records.Take(MaxNames))
        {
            var name = raw.TrimEnd('.');
            if (name.Length == 0) continue;
            DnsResult<IPAddress> forward;
            try
            {
                forward = client.AddressFamily == AddressFamily.InterNetwork ? await dns.AAsync(name, ct) : await dns.AaaaAsync(name, ct);
            }
            catch (OperationCanceledException)
            {
                return ("temperror", null);
            }
            if (forward.Status == DnsStatus.Failed) failed = true;
            else if (forward.Records.Any(a => (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).Equals(client))) return ("pass", name.ToLowerInvariant());
        }
        return (failed ? "temperror" : "fail", null);
    }
}
