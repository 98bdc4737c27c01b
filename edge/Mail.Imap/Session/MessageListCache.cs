using System.Collections.Concurrent;
using Mail.Core.Ports;

namespace Mail.Imap.Session;

/// <summary>
/// The message list of recently selected mailboxes, shared by sessions, so a SELECT of an unchanged mailbox does not
/// read every row again (Dovecot keeps its index files for the same reason). An entry is valid while the mailbox's
/// change signature is the same: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and the message count. Every append, flag
/// change, expunge, copy or move changes one of them, in this process or in another, and the signature is read
/// from the store on every SELECT, so a stale list is never served. Bounded by the total number of messages held;
/// when full, it is emptied and refills with the mailboxes in use. Behind it, when configured, the on-disk
/// <see cref="MailboxCacheFiles"/> serve the first SELECT after a restart under the same signature check.
/// </summary>
internal sealed class MessageListCache(int maxMessages, MailboxCacheFiles? files = null)
{
    private readonly ConcurrentDictionary<(string User, string Name), Entry> _entries = new();
    private long _held;

    /// <summary>The on-disk per-mailbox cache files, when configured.</summary>
    public MailboxCacheFiles? Files => files;

    /// <summary>The message list of the mailbox <paramref name="info"/> describes. A list read from the store is
    /// saved to the mailbox's cache file by <paramref name="saveBehind"/>'s action, which the caller runs once its
    /// reply is sent: the 1-2 MB write then does not compete with the reply for the CPU.</summary>
    public async Task<IReadOnlyList<MessageRecord>> GetAsync(IMailboxStore store, MailboxInfo info, Action<Action> saveBehind, CancellationToken ct)
    {
        var key = (info.User, info.Name);
        if (_entries.TryGetValue(key, out var e) && e.Matches(info)) return e.Records;
        // A snapshot is returned only when it matches info, checked as Consistent checks a list (and more).
        IReadOnlyList<MessageRecord>? records = files?.TryReadList(info);
        var consistent = records is not null;
        if (records is null)
        {
            records = await store.ListMessagesAsync(info.User, info.Name, null, ct);
            consistent = Consistent(records, info);
            if (consistent && files is not null)
            {
                var read = records;
                saveBehind(() => files.SaveList(info, read));
            }
        }
        if (maxMessages > 0 && records.Count <= maxMessages && consistent)
        {
            if (Interlocked.Add(ref _held, records.Count) > maxMessages)
            {
                _entries.Clear();
                Interlocked.Exchange(ref _held, records.Count);
            }
            records = records as MessageList ?? new MessageList(records);
            _entries[key] = new Entry(info.UidValidity, info.UidNext, info.HighestModSeq, info.MessageCount, records);
        }
        return records;
    }

    /// <summary>The list is read in its own transaction, after <paramref name="info"/>: cache it under info's
    /// signature only when nothing changed in between (a later append has a UID at or past UIDNEXT, a flag change a
    /// higher MODSEQ, an expunge a smaller count).</summary>
    private static bool Consistent(IReadOnlyList<MessageRecord> records, MailboxInfo info)
    {
        if (records.Count != info.MessageCount) return false;
        foreach (var r in records)
            if (r.Uid >= info.UidNext || r.ModSeq > info.HighestModSeq) return false;
        return true;
    }

    private sealed record Entry(long UidValidity, long UidNext, long HighestModSeq, int Count, IReadOnlyList<MessageRecord> Records)
    {
        public bool Matches(MailboxInfo info) =>
            info.UidValidity == UidValidity && info.UidNext == UidNext && info.HighestModSeq == HighestModSeq && info.MessageCount == Count;
    }
}
