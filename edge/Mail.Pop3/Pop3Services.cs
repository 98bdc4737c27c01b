using Mail.Core.Listening;

namespace Mail.Pop3;

/// <summary>What the gateway reads and writes: the INBOX index, the raw messages and the user directory; nothing
/// beyond what IMAP is given too.</summary>
public sealed class Pop3Services : MailboxGatewayServices;
