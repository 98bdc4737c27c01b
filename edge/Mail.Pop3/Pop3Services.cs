using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.Core.Ports;

namespace Mail.Pop3;

/// <summary>What the gateway reads and writes: the INBOX index, the raw messages and the user directory.</summary>
public sealed class Pop3Services
{
    public required IMailboxStore Mailboxes { get; init; }
    public required IMessageStore Messages { get; init; }
    public required MailDirectory Directory { get; init; }

    /// <summary>The failed-login counter shared with IMAP (one count per client address over both protocols, as
    /// Dovecot's auth penalty); null: the server keeps its own from <see cref="Pop3ServerOptions.MaxFailedLogins"/>.</summary>
    public LoginThrottle? Throttle { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
