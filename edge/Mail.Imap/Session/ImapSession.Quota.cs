using System.Globalization;
using Mail.Core.Accounts;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>
/// RFC 9208 QUOTA with the one resource STORAGE (QUOTA=RES-STORAGE): each user has a single quota root, named "",
/// over all their mailboxes, when they have a limit (<see cref="UserQuotas"/>); a user without one has no quota root.
/// Limits are an administrator's (<c>mail user quota</c>), so SETQUOTA is refused and QUOTASET not announced.
/// </summary>
internal sealed partial class ImapSession
{
    /// <summary>The one quota root's name: the empty string, as Dovecot and RFC 9208's examples use for a user's root.</summary>
    private const string QuotaRoot = "";

    /// <summary>GETQUOTAROOT mailbox: the mailbox's roots (the user's "", or none without a limit) and each root's QUOTA.</summary>
    private async Task<string> GetQuotaRootAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        r.ExpectEnd();
        var info = await Mailboxes.GetMailboxAsync(_user, name, ct);
        if (info is null) return "NO [NONEXISTENT] No such mailbox";
        var usage = await QuotaUsageAsync(ct);
        if (usage is not { } q)
        {
            _conn.WriteLine($"* QUOTAROOT {MailboxOnWire(info.Name)}");
            return "OK GETQUOTAROOT completed (no storage limit)";
        }
        _conn.WriteLine($"* QUOTAROOT {MailboxOnWire(info.Name)} {Quote(QuotaRoot)}");
        WriteQuota(q);
        return "OK GETQUOTAROOT completed";
    }

    /// <summary>GETQUOTA root: only "" exists, and only for a user with a limit.</summary>
    private async Task<string> GetQuotaAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var root = r.AString();
        r.ExpectEnd();
        if (root != QuotaRoot || await QuotaUsageAsync(ct) is not { } q) return "NO [NONEXISTENT] No such quota root";
        WriteQuota(q);
        return "OK GETQUOTA completed";
    }

    /// <summary>SETQUOTA: RFC 9208 4.1.3 lets a server refuse; limits belong to the administrator, as with Dovecot's
    /// quota_rule. The arguments are not read: the answer is the same whatever they are.</summary>
    private static string SetQuota() => "NO [NOPERM] Storage limits are set by the administrator (mail user quota)";

    /// <summary>"* QUOTA "" (STORAGE used limit)", both in units of 1024 octets (RFC 9208 5.1).</summary>
    private void WriteQuota(QuotaUsage q) =>
        _conn.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"* QUOTA {Quote(QuotaRoot)} (STORAGE {QuotaUsage.Kibibytes(q.Used)} {q.Limit!.Value / 1024})"));

    /// <summary>The user's usage and limit, or null without a limit (or with quotas off in this gateway).</summary>
    private async Task<QuotaUsage?> QuotaUsageAsync(CancellationToken ct) =>
        _services.Quotas is { } quotas ? await quotas.GetLimitedAsync(_user, ct) : null;

    /// <summary>
    /// Before APPEND or COPY adds <paramref name="octets"/> to the user's mailboxes: the refusal when they would take
    /// the usage over the limit (RFC 9208 4.3, RFC 5530 OVERQUOTA), else null. MOVE is never refused: it leaves the
    /// usage as it was, and a user over quota must still be able to tidy up into Trash.
    /// </summary>
    private async Task<string?> OverQuotaAsync(long octets, CancellationToken ct)
    {
        if (await QuotaUsageAsync(ct) is not { } q || q.Fits(octets)) return null;
        return string.Create(CultureInfo.InvariantCulture,
            $"NO [OVERQUOTA] Quota exceeded: {QuotaUsage.Kibibytes(q.Used)} of {q.Limit!.Value / 1024} KiB used; this needs {QuotaUsage.Kibibytes(octets)} more");
    }
}
