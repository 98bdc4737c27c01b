using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Smtp.Protocol;
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
        if (_quota is null) return false;
        var size = Facts.MailFromParameters!.Size ?? 0;
        if (await ReachesRoomAsync(mailbox, q => !q.IsFull && q.Fits(size))) return false;
        Rejected(Mail.Core.Telemetry.RejectReason.Quota);
        Reply(SmtpReplies.MailboxFull(path));
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
        var recipients = Facts.RecipientList.Count;
        foreach (var recipient in Facts.RecipientList)
        {
            // The stored copy is slightly larger than the data, with its trace headers; the data's size is the edge's
            // best measure, as Postfix's is for quota-status.
            if (Address.TryParse(recipient.Address, out var address) && !await ReachesRoomAsync(address, q => q.Fits(tx.DataSize)))
                full.Add(recipient.Address);
        }
        if (full.Count == 0) return false;
        _logger.LogInformation("Session {SessionId}: {QueueId} refused at end of data, {Octets} octets do not fit the quota of {Recipients}",
            Facts.SessionId, tx.QueueId, tx.DataSize, string.Join(", ", full));
        Rejected(Mail.Core.Telemetry.RejectReason.Quota); // before the reset: the sender is still known
        await ResetTransactionAsync();
        var names = string.Join(", ", full.Select(a => $"<{a}>"));
        Reply(full.Count == recipients ? SmtpReplies.MessageOverQuota(names) : SmtpReplies.MessageOverQuotaForSome(names));
        return true;
    }

    /// <summary>Whether the recipient reaches somebody with room: a remote or unknown recipient, a forward, or a user
    /// without a limit or for whom <paramref name="room"/> holds. An alias is refused only when every mailbox behind it
    /// is full, so one full member does not turn the mail away from the others (they get their copies; the full one's
    /// copy is stored over the limit and logged, as a delivery that raced the check).</summary>
    private async ValueTask<bool> ReachesRoomAsync(Address mailbox, Func<QuotaUsage, bool> room)
    {
        if (!await _recipients.IsLocalDomainAsync(mailbox.Domain)) return true;
        var resolution = await _recipients.ResolveAsync(mailbox.ToString());
        if (resolution.Users.Count == 0 || resolution.Forwards.Count > 0) return true;
        foreach (var user in resolution.Users)
        {
            if (await _quota!.GetAsync(user) is not { } q || room(q)) return true;
        }
        return false;
    }
}
