using Mail.Core.Accounts;
using Mail.Core.Ports;

namespace Mail.Imap;

/// <summary>What the gateway reads and writes: the mailbox index, the raw messages and the user directory.</summary>
public sealed class ImapServices
{
    public required IMailboxStore Mailboxes { get; init; }
    public required IMessageStore Messages { get; init; }
    public required MailDirectory Directory { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
