using Mail.Core.Model;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// Storage quotas at the edge: refused in the dialogue, never bounced after 250 (ARCHITECTURE.md: no backscatter).
internal sealed partial class SmtpSession
{
    /// <summary>
    /// At RCPT, for a local recipient whose user has a limit: refuse with 552 5.2.2 (RFC 3463 "mailbox full", the
    /// answer of Dovecot's quota-status service) when the mailbox is already full, or when the size MAIL FROM announced
    /// (RFC 1870 SIZE) would not fit. Permanent, as Dovecot's default (quota_full_tempfail = no): the sender learns at
    /// once, from its own MTA, and the other recipients of the transaction are not held back. True when refused.
    /// </summary>
    private async ValueTask<bool> RefuseRecipientOverQuotaAsync(Address mailbox, string path)
    {
        if (_quota is null || await LocalUserAsync(mailbox) is not { } user || await _quota.GetAsync(user) is not { } q) return false;
        if (!q.IsFull && q.Fits(_tx!.Parameters.Size ?? 0)) return false;
        Reply(552, "5.2.2", $"<{path}>: Recipient address rejected: Mailbox full");
        return true;
    }

    /// <summary>
    /// At the end of DATA or BDAT, when the size is known: whether each local recipient's user still has room for it.
    /// SMTP has one answer for the whole message here (RFC 5321; only LMTP answers per recipient), and a message
    /// accepted for some recipients must not be bounced later for the others. So: when it fits no recipient, 552 5.2.2
    /// (permanent: nobody would get it); when it fits some but not all, 452 4.2.2 for the whole message (temporary):
    /// the sender's MTA keeps it and retries, and on the retry a SIZE it announces lets RCPT refuse the full recipients
    /// alone. False when every recipient has room; true when the message was refused (the reply is written).
    /// </summary>
    private async ValueTask<bool> RefuseMessageOverQuotaAsync(SmtpTransaction tx)
    {
        if (_quota is null) return false;
        var full = new List<string>();
        var checkedUsers = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var recipient in tx.Recipients)
        {
            if (!Address.TryParse(recipient.Address, out var address) || await LocalUserAsync(address) is not { } user) continue;
            if (!checkedUsers.TryGetValue(user, out var fits))
            {
                // One copy per user is stored (alice@ and alice+tag@ are one mailbox), slightly larger than the data
                // with its trace headers; the data's size is the edge's best measure, as Postfix's is for quota-status.
                fits = await _quota.GetAsync(user) is not { } q || q.Fits(tx.DataSize);
                checkedUsers[user] = fits;
            }
            if (!fits) full.Add(recipient.Address);
        }
        if (full.Count == 0) return false;
        _logger.LogInformation("Session {SessionId}: {QueueId} refused at end of data, {Octets} octets do not fit the quota of {Recipients}",
            Facts.SessionId, tx.QueueId, tx.DataSize, string.Join(", ", full));
        await ResetTransactionAsync();
        var names = string.Join(", ", full.Select(a => $"<{a}>"));
        if (full.Count == tx.Recipients.Count) Reply(552, "5.2.2", $"{names}: Mailbox full");
        else Reply(452, "4.2.2", $"{names}: Mailbox full; the message was not accepted for any recipient, try again later");
        return true;
    }

    /// <summary>The user a recipient of one of our domains reaches, or null (a remote or unknown recipient).</summary>
    private async ValueTask<string?> LocalUserAsync(Address mailbox) =>
        await _recipients.IsLocalDomainAsync(mailbox.Domain) ? await _recipients.ResolveAsync(mailbox.ToString()) : null;
}
