using System.Collections.Concurrent;

namespace Mail.Imap.Session;

/// <summary>
/// The \Recent flag (RFC 3501 2.3.2): a message is recent in exactly one session, the first to select its mailbox
/// read-write after it arrived. Kept per gateway process, per mailbox incarnation (user, name, UIDVALIDITY), as
/// the first UID no session has claimed yet. A mailbox this process has not seen before starts at the UIDNEXT it
/// has when first seen (created here: 1), so after a restart only mail arriving from then on is recent.
/// </summary>
internal sealed class RecentTracker
{
    private readonly ConcurrentDictionary<(string User, string Mailbox, long UidValidity), long> _firstUnclaimed = new();

    /// <summary>Notes a mailbox before this process changes it (CREATE, APPEND): what it holds now is not recent.</summary>
    public void Observe(string user, string mailbox, long uidValidity, long uidNext) =>
        _firstUnclaimed.TryAdd((user, mailbox, uidValidity), uidNext);

    /// <summary>The first UID not yet claimed by any session (messages from here up are recent).</summary>
    public long FirstRecent(string user, string mailbox, long uidValidity, long uidNext) =>
        _firstUnclaimed.GetOrAdd((user, mailbox, uidValidity), uidNext);

    /// <summary>Claims every unclaimed UID below <paramref name="uidNext"/> for the calling session; returns the
    /// first UID of its claim (the claim is [returned, uidNext)).</summary>
    public long Claim(string user, string mailbox, long uidValidity, long uidNext)
    {
        var key = (user, mailbox, uidValidity);
        while (true)
        {
            var first = _firstUnclaimed.GetOrAdd(key, uidNext);
            if (first >= uidNext) return uidNext;
            if (_firstUnclaimed.TryUpdate(key, uidNext, first)) return first;
        }
    }
}
