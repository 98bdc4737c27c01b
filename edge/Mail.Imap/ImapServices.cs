using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.Core.Ports;

namespace Mail.Imap;

/// <summary>What the gateway reads and writes: the mailbox index and the raw messages, besides the user directory of
/// every gateway.</summary>
public sealed class ImapServices : MailboxGatewayServices
{
    /// <summary>Storage limits and usage (RFC 9208 QUOTA, OVERQUOTA on APPEND and COPY); null: no QUOTA capability.</summary>
    public UserQuotas? Quotas { get; init; }
}
