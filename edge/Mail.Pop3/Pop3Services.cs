using Mail.Core.Listening;
using Mail.Core.Ports;

namespace Mail.Pop3;

/// <summary>What the gateway reads and writes: the INBOX index and the raw messages, besides the user directory of
/// every gateway.</summary>
public sealed class Pop3Services : GatewayServices
{
    public required IMailboxStore Mailboxes { get; init; }
    public required IMessageStore Messages { get; init; }
}
