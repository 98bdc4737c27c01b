using Mail.Core.Ports;

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

    /// <summary>UIDs in ascending order; index + 1 is the message sequence number.</summary>
    public List<long> Uids { get; } = [];

    public Dictionary<long, MessageRecord> Records { get; } = [];

    public long MaxUid => Uids.Count > 0 ? Uids[^1] : 0;

    public void Load(IReadOnlyList<MessageRecord> records)
    {
        Uids.Clear();
        Records.Clear();
        foreach (var r in records.OrderBy(r => r.Uid))
        {
            Uids.Add(r.Uid);
            Records[r.Uid] = r;
        }
    }

    /// <summary>Sequence number (1-based) of a UID, or 0.</summary>
    public int SequenceOf(long uid)
    {
        var i = Uids.BinarySearch(uid);
        return i < 0 ? 0 : i + 1;
    }
}
