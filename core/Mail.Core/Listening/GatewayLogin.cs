using System.Net;
using Mail.Core.Accounts;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Listening;

/// <summary>What a password login at a gateway came to.</summary>
public enum LoginOutcome { LoggedIn, Throttled, Failed }

/// <summary>
/// The password check of the IMAP, POP3 and ManageSieve gateways, one way for all: refused without looking at the
/// password while the <see cref="LoginThrottle"/> blocks the client address or the user, else the directory's check
/// (through the process's login cache, Auth:CacheTtl, shared with SMTP AUTH); a failure is counted, logged and paid
/// for with <paramref name="failedLoginDelay"/>, so guessing is slow. Each gateway words the reply itself.
/// </summary>
public static class GatewayLogin
{
    /// <param name="protocol">"IMAP", "POP3", "ManageSieve": for the log lines.</param>
    /// <returns>The outcome and, when logged in, the canonical user.</returns>
    public static async Task<(LoginOutcome Outcome, string? User)> SignInAsync(MailDirectory directory, LoginThrottle throttle, string protocol, string name, string password,
        IPAddress client, TimeSpan failedLoginDelay, TimeProvider time, ILogger logger, CancellationToken ct)
    {
        var address = client.ToString();
        var canonical = MailDirectory.Canonical(name) ?? name.ToLowerInvariant();
        if (throttle.IsBlocked(address, canonical))
        {
            await Task.Delay(failedLoginDelay, time, ct);
            logger.LogWarning("{Protocol} login for {User} from {Client} refused: too many failures", protocol, canonical, address);
            return (LoginOutcome.Throttled, null);
        }
        var user = await directory.AuthenticateAsync(name, password, ct);
        if (user is null)
        {
            throttle.RecordFailure(address, canonical);
            logger.LogInformation("{Protocol} login failed for {User} from {Client}", protocol, canonical, address);
            await Task.Delay(failedLoginDelay, time, ct);
            return (LoginOutcome.Failed, null);
        }
        return (LoginOutcome.LoggedIn, user);
    }
}
