using Mail.Core.Ports;

namespace Mail.Core.Listening;

/// <summary>What a gateway that serves mailboxes (IMAP, POP3) reads and writes besides the user directory of every
/// gateway: the mailbox index and the raw messages.</summary>
public abstract class MailboxGatewayServices : GatewayServices
{
    public required IMailboxStore Mailboxes { get; init; }
    public required IMessageStore Messages { get; init; }
}
