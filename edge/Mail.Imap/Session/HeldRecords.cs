using System.Diagnostics.CodeAnalysis;
using Mail.Core.Ports;

namespace Mail.Imap.Session;

/// <summary>
/// The records a session holds for its selected mailbox, by UID: the shared <see cref="MessageList"/> it selected
/// (read, never copied) under the session's own changes (records put since, and UIDs expunged since). So a SELECT
/// copies no record and builds no map per message; a lookup by UID is a binary search of the list's UIDs, one by
/// position (<see cref="At"/>) none while the session's sequence numbers still match the list's.
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

    /// <summary>The record of <paramref name="uid"/>, which the session holds at <paramref name="index"/> (0-based):
    /// read at that index of the shared list when it is there too (no expunge before it since the SELECT), so a
    /// FETCH 1:* walks the list in order instead of searching it for every message.</summary>
    public MessageRecord At(int index, long uid)
    {
        if (_changed.TryGetValue(uid, out var record)) return record;
        if (loaded is not null && (uint)index < (uint)loaded.Count && loaded.Uids[index] == uid
            && (_removed is null || !_removed.Contains(uid)))
            return loaded[index];
        return this[uid];
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
