using Mail.Core.Accounts;
using Mail.Core.Listening;

namespace Mail.ManageSieve;

/// <summary>What the service reads and writes: the user directory (passwords) and, through it, each user's Sieve
/// scripts (<see cref="MailDirectory.Sieve"/>, the store `mail sieve` and delivery use).</summary>
public sealed class ManageSieveServices
{
    public required MailDirectory Directory { get; init; }

    /// <summary>The failed-login counter shared with IMAP and POP3 (one count per client address over all of them, as
    /// Dovecot's auth penalty); null: the server keeps its own from <see cref="ManageSieveServerOptions.MaxFailedLogins"/>.</summary>
    public LoginThrottle? Throttle { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
