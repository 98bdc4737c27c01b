using System.Collections;
using Mail.Core.Ports;

namespace Mail.Imap.Session;

/// <summary>
/// A mailbox's message list as <see cref="MessageListCache"/> shares it between sessions, with what every SELECT of
/// it would otherwise work out again from 10,000 records: the UID-to-record map a <see cref="SelectedMailbox"/>
/// starts from (copied, not rebuilt: the copy reuses the stored hash codes), the UIDs in order, the keywords set on
/// any message and the highest MODSEQ. Built once, on the first SELECT that uses it; immutable after that.
/// </summary>
internal sealed class MessageList(IReadOnlyList<MessageRecord> records) : IReadOnlyList<MessageRecord>
{
    private View? _view;

    public int Count => records.Count;

    public MessageRecord this[int index] => records[index];

    public IEnumerator<MessageRecord> GetEnumerator() => records.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The prepared view (safe to share: only ever copied).</summary>
    public View Prepared => _view ??= Prepare(records); // a race builds it twice, both equal

    private static View Prepare(IReadOnlyList<MessageRecord> records)
    {
        var ordered = records;
        for (var i = 1; i < records.Count; i++)
        {
            if (records[i - 1].Uid >= records[i].Uid)
            {
                ordered = records.OrderBy(r => r.Uid).ToList();
                break;
            }
        }
        var uids = new List<long>(ordered.Count);
        var byUid = new Dictionary<long, MessageRecord>(ordered.Count);
        var keywords = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var flagSets = new HashSet<IReadOnlyCollection<string>>(ReferenceEqualityComparer.Instance);
        var highest = 0L;
        foreach (var r in ordered)
        {
            uids.Add(r.Uid);
            byUid[r.Uid] = r;
            if (r.ModSeq > highest) highest = r.ModSeq;
            // Records share one flag array per distinct set (store and file readers both do): look at each set once.
            if (r.Flags.Count > 0 && flagSets.Add(r.Flags))
                foreach (var f in r.Flags)
                    if (!f.StartsWith('\\') && seen.Add(f)) keywords.Add(f);
        }
        return new View(uids, byUid, keywords, highest);
    }

    internal sealed record View(List<long> Uids, Dictionary<long, MessageRecord> ByUid, List<string> Keywords, long HighestModSeq);
}
