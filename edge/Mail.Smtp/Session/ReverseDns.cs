using System.Net;
using Mail.Core.Ports;

namespace Mail.Smtp.Session;

/// <summary>
/// The connect-time "fcrdns" result (<see cref="ClientHostname"/>, the one FCrDNS of the system, read as RFC 8601's
/// iprev words): "pass" with the confirmed name; "fail" when there is no PTR or no name points back; "temperror" when
/// DNS failed and nothing was confirmed (a failure must never read as "fail").
/// </summary>
internal static class ReverseDns
{
    public static async Task<(string Result, string? Name)> CheckAsync(IDnsResolver dns, IPAddress client, CancellationToken ct)
    {
        ClientHostnameResult result;
        try
        {
            result = await new ClientHostname(dns).ResolveAsync(client, ct);
        }
        catch (OperationCanceledException)
        {
            return ("temperror", null);
        }
        return result.Status switch
        {
            ClientHostnameStatus.Verified => ("pass", result.VerifiedName),
            ClientHostnameStatus.TempFail => ("temperror", null),
            _ => ("fail", null),
        };
    }
}
