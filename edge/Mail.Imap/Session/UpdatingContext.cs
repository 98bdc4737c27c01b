using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>A SEARCH or SORT whose result the client asked to keep up to date (RFC 5267 4.3, RETURN (UPDATE)).</summary>
internal sealed class UpdatingContext(string tag, bool uid, SelectedMailbox mailbox, SearchProgram program, SortOrder? order)
{
    public string Tag { get; } = tag;
    public bool Uid { get; } = uid;

    /// <summary>The selection the context belongs to: a new SELECT (even of the same mailbox) ends it.</summary>
    public SelectedMailbox Mailbox { get; } = mailbox;

    public SearchProgram Program { get; } = program;

    /// <summary>Null for SEARCH (results kept in mailbox order, context position 0).</summary>
    public SortOrder? Order { get; } = order;

    /// <summary>UIDs of the result in the order the client keeps it: mailbox order, or the requested sort order.</summary>
    public List<long> Results { get; } = [];

    /// <summary>Sort values of the messages in <see cref="Results"/> (SORT only): they never change, since
    /// messages are immutable but for their flags.</summary>
    public Dictionary<long, object[]> SortValues { get; } = [];

    /// <summary>The session's view of the mailbox when the context was last brought up to date: unchanged means
    /// nothing to do; otherwise only messages with a higher MODSEQ (new flags) or UID (new mail) are matched again.</summary>
    public (long HighestModSeq, int Count, long MaxUid) Stamp { get; set; }

    public int Compare(long uidA, long uidB)
    {
        if (Order is null) return uidA.CompareTo(uidB);
        var c = Order.Compare(SortValues[uidA], SortValues[uidB]);
        return c != 0 ? c : uidA.CompareTo(uidB); // ties in sequence order, as the SORT itself
    }

    /// <summary>Index at which <paramref name="uid"/> belongs in <see cref="Results"/>.</summary>
    public int InsertionIndex(long uid)
    {
        int lo = 0, hi = Results.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (Compare(Results[mid], uid) < 0) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>Removes the results <paramref name="remove"/> selects; each as (context position at its removal, UID).</summary>
    public List<(int Position, long Uid)> TakeFromResults(Func<long, bool> remove)
    {
        var removals = new List<(int, long)>();
        var kept = new List<long>(Results.Count);
        foreach (var uid in Results)
        {
            if (!remove(uid))
            {
                kept.Add(uid);
                continue;
            }
            // Positions count on the list as it shrinks: the one removed takes the place after those kept so far.
            removals.Add((Order is null ? 0 : kept.Count + 1, uid));
            SortValues.Remove(uid);
        }
        Results.Clear();
        Results.AddRange(kept);
        return removals;
    }

    /// <summary>
    /// context-position SP sequence-set pairs of a REMOVEFROM or ADDTO. SEARCH: one pair at position 0, in mailbox
    /// order. SORT: one pair per run that continues the previous one (a removal at the same position, an insertion
    /// right after the last).
    /// </summary>
    public string UpdatePairs(List<(int Position, long Uid)> updates, bool removal)
    {
        long Number(long uid) => Uid ? uid : Mailbox.SequenceOf(uid);
        if (Order is null) return "0 " + SequenceSet.Format(updates.Select(u => Number(u.Uid)).Order());
        var groups = new List<(int Position, List<long> Numbers)>();
        foreach (var (position, uid) in updates)
        {
            if (groups.Count > 0)
            {
                var last = groups[^1];
                var next = removal ? last.Position : last.Position + last.Numbers.Count;
                if (position == next)
                {
                    last.Numbers.Add(Number(uid));
                    continue;
                }
            }
            groups.Add((position, [Number(uid)]));
        }
        return string.Join(' ', groups.Select(g => $"{g.Position} {SequenceSet.Format(g.Numbers)}"));
    }
}
