using Mail.Core.Accounts;

namespace Mail.Core.Listening;

/// <summary>What every mailbox-access gateway (IMAP, POP3, ManageSieve) is given: the user directory, the login
/// throttle and the clock. Each protocol's services class adds its stores.</summary>
public abstract class GatewayServices
{
    public required MailDirectory Directory { get; init; }

    /// <summary>The failed-login counter shared by the gateways in `mail serve` (one count per client address over all
    /// of them, as Dovecot's auth penalty); null: the server keeps its own, from
    /// <see cref="GatewayOptions{TListener}.MaxFailedLogins"/>.</summary>
    public LoginThrottle? Throttle { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
