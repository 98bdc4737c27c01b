using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>What one session believes about its selected mailbox: the sequence-number-to-UID map and the flags
/// it last reported. Differences from the store become untagged EXISTS / EXPUNGE / FETCH responses.</summary>
internal sealed class SelectedMailbox(string name, bool readOnly, long uidValidity)
{
    public string Name { get; set; } = name;
    public bool ReadOnly { get; } = readOnly;
    public long UidValidity { get; } = uidValidity;
    public long UidNext { get; set; }
    public long HighestModSeq { get; set; }

    /// <summary>The mailbox's on-disk cache file, looked up on first use.</summary>
    public MailboxCacheFile? CacheFile { get; set; }

    /// <summary>UIDs in ascending order; index + 1 is the message sequence number.</summary>
    public List<long> Uids { get; } = [];

    /// <summary>Read here; written through <see cref="Put"/>, which keeps <see cref="HighestHeldModSeq"/>.</summary>
    public HeldRecords Records { get; private set; } = new();

    /// <summary>The highest MODSEQ of any record this session holds, so of any MODSEQ it may have shown in a FETCH.
    /// A client may take the highest MODSEQ it was shown as its HIGHESTMODSEQ (RFC 7162 3.2, errata 1810 of RFC 5162)
    /// and later resynchronise from it; while this is above <see cref="HighestModSeq"/> (everything up to which the
    /// session has reported), the session must tell the client the lower value.</summary>
    public long HighestHeldModSeq { get; private set; }

    /// <summary>Holds the current state of a message of the view (new, or changed since it was last held).</summary>
    public void Put(MessageRecord record)
    {
        _loadedKeywords = null;
        Records.Put(record);
        if (record.ModSeq > HighestHeldModSeq) HighestHeldModSeq = record.ModSeq;
    }

    /// <summary>Keywords this session announced in its last FLAGS response: a FETCH must not show any other.</summary>
    public HashSet<string> AnnouncedKeywords { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>UIDs that are \Recent in this session (claimed on SELECT and as new mail is seen).</summary>
    public HashSet<long> Recent { get; } = [];

    /// <summary>The count the session last sent in a RECENT response.</summary>
    public int ReportedRecent { get; set; }

    public bool IsRecent(long uid) => Recent.Count > 0 && Recent.Contains(uid);

    /// <summary>Marks the session's UIDs in [<paramref name="from"/>, <paramref name="to"/>) recent. Not above: a
    /// message listed after the UIDNEXT of the claim was read belongs to the claim of whoever saw it first.</summary>
    public void AddRecent(long from, long to)
    {
        for (var i = Uids.Count - 1; i >= 0 && Uids[i] >= from; i--)
            if (Uids[i] < to) Recent.Add(Uids[i]);
    }

    /// <summary>RFC 5182 saved search result ("$"), as UIDs so that expunges drop out of it by themselves;
    /// a new selection starts with it empty.</summary>
    public HashSet<long> SearchResult { get; set; } = [];

    public long MaxUid => Uids.Count > 0 ? Uids[^1] : 0;

    /// <summary>The keywords of the list as loaded, until a record changes.</summary>
    private List<string>? _loadedKeywords;

    public void Load(IReadOnlyList<MessageRecord> records)
    {
        // A list shared by sessions comes as arrays: the session copies the UIDs and reads the rest in place.
        var list = records as MessageList ?? new MessageList(records);
        Uids.Clear();
        Uids.AddRange(list.Uids);
        Records = new HeldRecords(list);
        HighestHeldModSeq = Math.Max(HighestHeldModSeq, list.HighestModSeq);
        _loadedKeywords = list.Keywords;
    }

    /// <summary>The keywords (flags not starting with a backslash) set on any message, each once.</summary>
    public List<string> Keywords()
    {
        if (_loadedKeywords is not null) return [.. _loadedKeywords];
        return MessageList.KeywordsOf(Uids.Select(Records.FlagsOf));
    }

    /// <summary>The sequence number of the first message without \Seen, or 0.</summary>
    public int FirstUnseen()
    {
        // Messages share a few flag sets: look into each set once in a row, not once per message.
        IReadOnlyCollection<string>? seen = null;
        for (var i = 0; i < Uids.Count; i++)
        {
            var flags = Records.FlagsOf(Uids[i]);
            if (ReferenceEquals(flags, seen)) continue;
            if (!flags.Contains(MessageFlags.Seen, StringComparer.OrdinalIgnoreCase)) return i + 1;
            seen = flags;
        }
        return 0;
    }

    /// <summary>Forgets the message at <paramref name="index"/> (0-based), as an EXPUNGE response tells the client.</summary>
    public void RemoveAt(int index)
    {
        var uid = Uids[index];
        _loadedKeywords = null;
        Uids.RemoveAt(index);
        Records.Remove(uid);
        Recent.Remove(uid);
    }

    /// <summary>Holds <paramref name="now"/> when it is the current state of a message of the view that differs from
    /// the one held (a new MODSEQ or other flags): true when the client is to be told (a FETCH of its flags).</summary>
    public bool HoldChanged(MessageRecord now)
    {
        if (!Records.TryGetValue(now.Uid, out var before)) return false;
        if (now.ModSeq == before.ModSeq && SameFlags(now.Flags, before.Flags)) return false;
        Put(now);
        return true;
    }

    private static bool SameFlags(IReadOnlyCollection<string> a, IReadOnlyCollection<string> b) =>
        a.Count == b.Count && a.All(f => b.Contains(f, StringComparer.OrdinalIgnoreCase));

    /// <summary>Indexes (0-based, ascending) of the messages of the view that are not in <paramref name="current"/>:
    /// expunged since the view was last brought up to date.</summary>
    public List<int> IndexesMissingFrom(IReadOnlyDictionary<long, MessageRecord> current)
    {
        var gone = new List<int>();
        for (var i = 0; i < Uids.Count; i++)
            if (!current.ContainsKey(Uids[i])) gone.Add(i);
        return gone;
    }

    /// <summary>Appends the messages of <paramref name="current"/> above the view's highest UID (new mail, numbered
    /// after every message the client knows); returns how many, for the EXISTS.</summary>
    public int AddNew(IEnumerable<MessageRecord> current)
    {
        var max = MaxUid;
        var added = 0;
        foreach (var m in current)
        {
            if (m.Uid <= max || Records.ContainsKey(m.Uid)) continue;
            Uids.Add(m.Uid);
            Put(m);
            added++;
        }
        return added;
    }

    /// <summary>What a CONTEXT=SEARCH update compares to see whether anything changed since it last looked.</summary>
    public (long HighestModSeq, int Count, long MaxUid) Stamp => (HighestModSeq, Uids.Count, MaxUid);

    /// <summary>Indexes (0-based, ascending) of the messages a sequence set names, by sequence number or by UID;
    /// "$" (RFC 5182) names the saved result either way.</summary>
    public List<int> IndexesOf(SequenceSet set, bool uid)
    {
        var result = new List<int>();
        if (set.IsSearchResult)
        {
            // "$" means the same messages whether the command is a UID one or not (RFC 5182 2.1).
            for (var i = 0; i < Uids.Count; i++)
                if (SearchResult.Contains(Uids[i])) result.Add(i);
            return result;
        }
        if (uid)
        {
            // Binary search per range: a client fetching one UID at a time in a big mailbox pays O(log n), not O(n).
            var indexes = new SortedSet<int>();
            foreach (var (lo, hi) in set.Ranges(MaxUid))
            {
                var i = Uids.BinarySearch(lo);
                if (i < 0) i = ~i;
                for (; i < Uids.Count && Uids[i] <= hi; i++) indexes.Add(i);
            }
            result.AddRange(indexes);
            return result;
        }
        var count = Uids.Count;
        if (count == 0) return result;
        if (set.MaxExplicit(count) > count) throw new ImapParseException($"Message sequence number out of range (mailbox has {count} messages)");
        for (var i = 0; i < count; i++)
            if (set.Contains(i + 1, count)) result.Add(i);
        return result;
    }

    /// <summary>The FLAGS list of a message as this session shows it: with \Recent when it is recent here.</summary>
    public string FlagList(MessageRecord m) => IsRecent(m.Uid) ? Wire.FlagList(m.Flags.Prepend(RecentFlag)) : Wire.FlagList(m.Flags);

    public const string RecentFlag = "\\Recent";

    /// <summary>Sequence number (1-based) of a UID, or 0.</summary>
    public int SequenceOf(long uid)
    {
        var i = Uids.BinarySearch(uid);
        return i < 0 ? 0 : i + 1;
    }
}
