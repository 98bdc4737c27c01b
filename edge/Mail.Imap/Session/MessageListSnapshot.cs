using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Mail.Imap.Session;

/// <summary>
/// The message list of a mailbox (UID, message reference, size, INTERNALDATE, flags, MODSEQ) kept on the gateway's
/// local disk across restarts, like Dovecot's dovecot.index: the first SELECT after a restart reads one compact file
/// instead of every row of the mailbox index. One file per mailbox in &lt;CacheDirectory&gt;/lists, named by a hash of
/// user and mailbox name, written (to a temporary file, then renamed over the old one) after the list was read from
/// the store.
/// A snapshot is served only when its header carries exactly the signature the store reports on this SELECT
/// (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and the message count, as <see cref="MessageListCache"/> checks): every
/// append, flag change, expunge, copy or move changes one of them, so a snapshot never shows stale flags or
/// messages. It is only a cache: a missing, truncated, foreign or stale file is a miss, never an error for a client.
/// </summary>
internal sealed class MessageListSnapshot(string cacheDirectory, ILogger logger)
{
    /// <summary>Smaller mailboxes are read from the store every time: their rows cost less than a file's upkeep.</summary>
    public const int MinMessages = 256;

    private const int Magic = 0x534C4D49; // "IMLS"
    // Strings are stored as UTF-16 code units in this machine's byte order (read back with one copy, no transcoding:
    // a restarted process would run the transcoder's vector code unoptimized for its first thousands of strings);
    // a big-endian machine keeps no snapshots.
    private const int FormatVersion = 2;
    private const int EndMagic = 0x444E4521;

    private readonly string _directory = Path.Combine(cacheDirectory, "lists");
    private readonly ConcurrentDictionary<Task, bool> _saving = new();
    private long _hits;
    private long _written;

    /// <summary>SELECTs answered from a snapshot since start (a diagnostic for tests and operators).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Snapshots written since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Waits for the snapshots being written now.</summary>
    public Task FlushAsync() => Task.WhenAll(_saving.Keys);

    /// <summary>The records of the snapshot for <paramref name="info"/>, or null when there is none that matches it.</summary>
    public IReadOnlyList<MessageRecord>? TryRead(MailboxInfo info)
    {
        if (info.MessageCount < MinMessages || !BitConverter.IsLittleEndian) return null;
        var path = PathOf(info.User, info.Name);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // none yet (FileNotFoundException is an IOException)
        }
        try
        {
            var records = Decode(bytes, info);
            if (records is not null) Interlocked.Increment(ref _hits);
            return records;
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            logger.LogDebug(e, "IMAP message list snapshot {Path} is unreadable; reading the mailbox index instead", path);
            return null;
        }
    }

    /// <summary>Writes the snapshot of <paramref name="records"/>, read consistently with <paramref name="info"/>;
    /// in the background: no session waits for it, and a failure only means the next cold SELECT reads the index.</summary>
    public Task SaveAsync(MailboxInfo info, IReadOnlyList<MessageRecord> records)
    {
        if (info.MessageCount < MinMessages || !BitConverter.IsLittleEndian) return Task.CompletedTask;
        var saving = Task.Run(() => Save(info, records));
        _saving[saving] = true;
        _ = saving.ContinueWith(t => _saving.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return saving;
    }

    private void Save(MailboxInfo info, IReadOnlyList<MessageRecord> records)
    {
        var path = PathOf(info.User, info.Name);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            Directory.CreateDirectory(_directory);
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024))
            using (var w = new BinaryWriter(file))
                Encode(w, info, records);
            File.Move(temp, path, overwrite: true);
            Interlocked.Increment(ref _written);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogDebug(e, "IMAP message list snapshot {Path} not written", path);
            try
            {
                File.Delete(temp);
            }
            catch (IOException) { }
        }
    }

    private string PathOf(string user, string mailbox)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(user + "\0" + mailbox), hash);
        return Path.Combine(_directory, Convert.ToHexStringLower(hash[..16]) + ".list");
    }

    private static void Encode(BinaryWriter w, MailboxInfo info, IReadOnlyList<MessageRecord> records)
    {
        w.Write(Magic);
        w.Write(FormatVersion);
        Chars(w, info.User);
        Chars(w, info.Name);
        w.Write(info.UidValidity);
        w.Write(info.UidNext);
        w.Write(info.HighestModSeq);
        w.Write(records.Count);
        foreach (var r in records)
        {
            w.Write(r.Uid);
            Chars(w, r.MessageRef);
            w.Write(r.Size);
            w.Write(r.InternalDate.ToUnixTimeMilliseconds());
            w.Write(r.ModSeq);
            Chars(w, string.Join(' ', r.Flags));
        }
        w.Write(EndMagic);
    }

    private static void Chars(BinaryWriter w, string s)
    {
        w.Write(s.Length);
        w.Write(MemoryMarshal.AsBytes(s.AsSpan()));
    }

    private static List<MessageRecord>? Decode(byte[] bytes, MailboxInfo info)
    {
        var r = new Reader(bytes);
        if (r.Int32() != Magic || r.Int32() != FormatVersion) return null;
        // The signature the store reports now: anything else is an older (or another mailbox's) list.
        if (!r.Chars().SequenceEqual(info.User) || !r.Chars().SequenceEqual(info.Name)) return null;
        if (r.Int64() != info.UidValidity || r.Int64() != info.UidNext || r.Int64() != info.HighestModSeq) return null;
        var count = r.Int32();
        if (count != info.MessageCount) return null;
        var list = new List<MessageRecord>(count);
        // Messages mostly share a few flag sets: one array per distinct set, as the store's reader does.
        Dictionary<string, string[]>? sets = null;
        var (lastText, lastFlags) = ("", Array.Empty<string>());
        var previous = 0L;
        for (var i = 0; i < count; i++)
        {
            var uid = r.Int64();
            var reference = new string(r.Chars());
            var size = r.Int64();
            var date = DateTimeOffset.FromUnixTimeMilliseconds(r.Int64());
            var modSeq = r.Int64();
            var text = r.Chars();
            if (!text.SequenceEqual(lastText))
            {
                lastText = new string(text);
                sets ??= new Dictionary<string, string[]>(StringComparer.Ordinal);
                if (!sets.TryGetValue(lastText, out lastFlags!)) sets[lastText] = lastFlags = lastText.Length == 0 ? [] : lastText.Split(' ');
            }
            // Ascending UIDs below UIDNEXT and MODSEQs up to HIGHESTMODSEQ, or it is not a list of this mailbox.
            if (uid <= previous || uid >= info.UidNext || modSeq > info.HighestModSeq) return null;
            previous = uid;
            list.Add(new MessageRecord(uid, reference, size, date, lastFlags, modSeq));
        }
        return r.Int32() == EndMagic && r.AtEnd ? list : null;
    }

    /// <summary>Reads the little-endian numbers and UTF-16 strings <see cref="Encode"/> writes; FormatException when
    /// the data ends early.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly bool AtEnd => _rest.IsEmpty;

        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public ReadOnlySpan<char> Chars()
        {
            var length = Int32();
            if (length < 0 || length > _rest.Length / 2) throw new FormatException("String longer than the snapshot.");
            return MemoryMarshal.Cast<byte, char>(Take(2 * length));
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (_rest.Length < n) throw new FormatException("Snapshot ends early.");
            var taken = _rest[..n];
            _rest = _rest[n..];
            return taken;
        }
    }
}
