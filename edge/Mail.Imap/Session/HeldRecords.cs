using System.Diagnostics.CodeAnalysis;
using Mail.Core.Ports;

namespace Mail.Imap.Session;

/// <summary>
/// The records a session holds for its selected mailbox, by UID: the shared <see cref="MessageList"/> it selected
/// (read, never copied) under the session's own changes (records put since, and UIDs expunged since). So a SELECT
/// copies no record and builds no map per message; a lookup is a binary search of the list's UIDs.
/// </summary>
internal sealed class HeldRecords(MessageList? loaded = null)
{
    private readonly Dictionary<long, MessageRecord> _changed = [];
    private HashSet<long>? _removed;

    public MessageRecord this[long uid] =>
        TryGetValue(uid, out var record) ? record : throw new KeyNotFoundException($"UID {uid} is not held");

    public bool TryGetValue(long uid, [MaybeNullWhen(false)] out MessageRecord record)
    {
        if (_changed.TryGetValue(uid, out record)) return true;
        if (LoadedIndex(uid) is var i and >= 0)
        {
            record = loaded![i];
            return true;
        }
        record = null;
        return false;
    }

    public bool ContainsKey(long uid) => _changed.ContainsKey(uid) || LoadedIndex(uid) >= 0;

    /// <summary>The flags of a held message, without making its record when it is unchanged since the SELECT.</summary>
    public IReadOnlyCollection<string> FlagsOf(long uid)
    {
        if (_changed.TryGetValue(uid, out var record)) return record.Flags;
        var i = LoadedIndex(uid);
        return i >= 0 ? loaded!.FlagsAt(i) : throw new KeyNotFoundException($"UID {uid} is not held");
    }

    public void Put(MessageRecord record)
    {
        _changed[record.Uid] = record;
        _removed?.Remove(record.Uid);
    }

    public void Remove(long uid)
    {
        _changed.Remove(uid);
        if (loaded is not null && loaded.IndexOf(uid) >= 0) (_removed ??= []).Add(uid);
    }

    private int LoadedIndex(long uid) =>
        loaded is null || (_removed is not null && _removed.Contains(uid)) ? -1 : loaded.IndexOf(uid);
}
