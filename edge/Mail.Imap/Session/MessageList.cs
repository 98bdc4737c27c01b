using System.Collections;
using Mail.Core.Ports;

namespace Mail.Imap.Session;

/// <summary>
/// A mailbox's message list as <see cref="MessageListCache"/> shares it between sessions, held as arrays: the UIDs in
/// ascending order, each message's flag set (an index into the distinct sets), the keywords set on any message and
/// the highest MODSEQ. A <see cref="MessageRecord"/> is made only when a command asks for that message, and then
/// kept for the next session. A list read from a cache file holds no object per message at all until then
/// (<see cref="MailboxCacheFile"/> decodes it from the file's bytes), so a SELECT after a restart touches a few
/// arrays, not an object and a string per message. Immutable once built (the records made on demand are equal
/// whoever makes them); a session copies only the UIDs and keeps its own changes in <see cref="HeldRecords"/>.
/// </summary>
internal sealed class MessageList : IReadOnlyList<MessageRecord>
{
    private readonly long[] _uids;
    private readonly int[] _flagSet;
    private readonly IReadOnlyCollection<string>[] _flagSets;
    private readonly MessageRecord?[] _records;
    private readonly Func<int, MessageRecord>? _decode;

    /// <summary>A list read from the store (or given by a test): sorted by UID when it is not already.</summary>
    public MessageList(IReadOnlyList<MessageRecord> records)
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
        _uids = new long[ordered.Count];
        _flagSet = new int[ordered.Count];
        _records = new MessageRecord?[ordered.Count];
        // Records share one flag array per distinct set (store and file readers both do): index each set once.
        var sets = new Dictionary<IReadOnlyCollection<string>, int>(ReferenceEqualityComparer.Instance);
        var flagSets = new List<IReadOnlyCollection<string>>();
        for (var i = 0; i < ordered.Count; i++)
        {
            var r = ordered[i];
            _uids[i] = r.Uid;
            _records[i] = r;
            if (!sets.TryGetValue(r.Flags, out var set))
            {
                sets[r.Flags] = set = flagSets.Count;
                flagSets.Add(r.Flags);
            }
            _flagSet[i] = set;
            if (r.ModSeq > HighestModSeq) HighestModSeq = r.ModSeq;
        }
        _flagSets = [.. flagSets];
        Keywords = KeywordsOf(_flagSets);
    }

    /// <summary>A packed list: ascending <paramref name="uids"/>, each message's index into <paramref name="flagSets"/>,
    /// and <paramref name="decode"/> to make the record at an index when it is asked for.</summary>
    public MessageList(long[] uids, int[] flagSet, IReadOnlyCollection<string>[] flagSets, long highestModSeq, Func<int, MessageRecord> decode)
    {
        _uids = uids;
        _flagSet = flagSet;
        _flagSets = flagSets;
        _records = new MessageRecord?[uids.Length];
        _decode = decode;
        HighestModSeq = highestModSeq;
        Keywords = KeywordsOf(flagSets);
    }

    public int Count => _uids.Length;

    public MessageRecord this[int index] => _records[index] ??= _decode!(index); // a race makes it twice, both equal

    /// <summary>The UIDs, ascending (shared: never to be changed).</summary>
    public ReadOnlySpan<long> Uids => _uids;

    /// <summary>The keywords (flags not starting with a backslash) set on any message, each once.</summary>
    public List<string> Keywords { get; }

    public long HighestModSeq { get; }

    /// <summary>The index of <paramref name="uid"/>, or a negative number.</summary>
    public int IndexOf(long uid) => Array.BinarySearch(_uids, uid);

    /// <summary>The flags of the message at <paramref name="index"/>, without making its record.</summary>
    public IReadOnlyCollection<string> FlagsAt(int index) => _flagSets[_flagSet[index]];

    public IEnumerator<MessageRecord> GetEnumerator()
    {
        for (var i = 0; i < _uids.Length; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The keywords (flags not starting with a backslash) in <paramref name="flagSets"/>, each once, in order.</summary>
    internal static List<string> KeywordsOf(IEnumerable<IReadOnlyCollection<string>> flagSets)
    {
        var keywords = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var set in flagSets)
            foreach (var f in set)
                if (!f.StartsWith('\\') && seen.Add(f)) keywords.Add(f);
        return keywords;
    }
}
