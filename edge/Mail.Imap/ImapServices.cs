using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.Core.Ports;

namespace Mail.Imap;

/// <summary>What the gateway reads and writes: the mailbox index, the raw messages and the user directory.</summary>
public sealed class ImapServices
{
    public required IMailboxStore Mailboxes { get; init; }
    public required IMessageStore Messages { get; init; }
    public required MailDirectory Directory { get; init; }

    /// <summary>Storage limits and usage (RFC 9208 QUOTA, OVERQUOTA on APPEND and COPY); null: no QUOTA capability.</summary>
    public UserQuotas? Quotas { get; init; }
    /// <summary>The failed-login counter, shared with the POP3 gateway in `mail serve` (one count per client address
    /// over both protocols); null: the server keeps its own, from <see cref="ImapServerOptions.MaxFailedLogins"/>.</summary>
    public LoginThrottle? Throttle { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
