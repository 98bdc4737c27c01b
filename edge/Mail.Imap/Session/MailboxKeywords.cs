using System.Collections.Concurrent;

namespace Mail.Imap.Session;

/// <summary>
/// Every keyword announced in a FLAGS response for a mailbox incarnation (user, name, UIDVALIDITY), kept per
/// gateway process. A keyword list only grows for a client (RFC 3501 7.2.6 lets a client keep a keyword it was
/// told of), so two sessions on one mailbox must be told the same keywords: one that saw $Label5 on a message before
/// it was removed again, and one that selected afterwards. Dovecot keeps this list in its index; here each session
/// announces the union at SELECT and whenever another session of this process grew it.
/// </summary>
internal sealed class MailboxKeywords
{
    private readonly ConcurrentDictionary<(string User, string Mailbox, long UidValidity), ConcurrentDictionary<string, byte>> _announced = new();

    /// <summary>Records keywords a session announces; returns the mailbox's whole list.</summary>
    public ICollection<string> Add(string user, string mailbox, long uidValidity, IEnumerable<string> keywords)
    {
        var set = Of(user, mailbox, uidValidity);
        foreach (var k in keywords)
            if (k.Length > 0 && k[0] != '\\') set.TryAdd(k, 0);
        return set.Keys;
    }

    /// <summary>How many keywords the mailbox has had announced (a session that announced fewer is behind).</summary>
    public int Count(string user, string mailbox, long uidValidity) =>
        _announced.TryGetValue((user, mailbox, uidValidity), out var set) ? set.Count : 0;

    private ConcurrentDictionary<string, byte> Of(string user, string mailbox, long uidValidity) =>
        _announced.GetOrAdd((user, mailbox, uidValidity), _ => new ConcurrentDictionary<string, byte>(StringComparer.OrdinalIgnoreCase));
}
