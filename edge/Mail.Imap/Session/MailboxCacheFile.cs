using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Mail.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Mail.Imap.Session;

/// <summary>
/// One mailbox's cache file (&lt;CacheDirectory&gt;/boxes/&lt;hash of user and mailbox&gt;.box): the message list
/// snapshot (UID, message reference, size, INTERNALDATE, flags, MODSEQ) and the formatted FETCH items (ENVELOPE,
/// BODYSTRUCTURE, BODY by message reference), so SELECT and FETCH after a restart read one file sequentially instead
/// of SQLite rows and message files.
/// <para>Layout (little-endian; strings as a length and UTF-16 code units, read back with one copy):</para>
/// <list type="bullet">
/// <item>header: magic "IMBX", <see cref="FormatVersion"/>, header length; user, mailbox, UIDVALIDITY; whether a
/// list follows, and then UIDNEXT, HIGHESTMODSEQ, count and the records; a CRC-32 of all of it.</item>
/// <item>then item records, appended behind the replies: payload length, payload (key, formatted text), CRC-32.</item>
/// </list>
/// The list is served only when it carries exactly the UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and count the store
/// reports on that SELECT (every append, flag change, expunge, copy or move changes one), so it is never stale; a
/// newer list rewrites the header and keeps the items of the messages still listed. Items never go stale (stored
/// messages are immutable). A record whose length or CRC does not check ends the file there (a crash mid-append):
/// readers stop before it, and the writer cuts it off before its next append. Only the writer
/// (<see cref="MailboxCacheFiles"/>) changes the file: whole rewrites go to a temporary file renamed over it.
/// </summary>
internal sealed class MailboxCacheFile
{
    /// <summary>Smaller mailboxes' lists are read from the store every time: their rows cost less than a file's upkeep.
    /// Their items are kept all the same.</summary>
    public const int MinListMessages = 256;

    /// <summary>Bumped whenever the layout or the formatted ENVELOPE or BODYSTRUCTURE text changes, so an older file is
    /// built again, never served.</summary>
    public const int FormatVersion = 1;

    private const int Magic = 0x58424D49; // "IMBX"
    private const int Prefix = 12; // magic, version, header length

    private readonly MailboxCacheFiles _owner;
    private readonly Lock _gate = new();
    private Dictionary<string, CachedText>? _items;
    private bool _reported;
    private long _verified = -1; // the writer's: the file's length up to which it is known good

    internal MailboxCacheFile(MailboxCacheFiles owner, string path, string user, string name, long uidValidity)
    {
        _owner = owner;
        FilePath = path;
        User = user;
        Name = name;
        UidValidity = uidValidity;
    }

    public string FilePath { get; }

    public string User { get; }

    public string Name { get; }

    public long UidValidity { get; }

    /// <summary>Looks up formatted items by key (<see cref="Messages.EnvelopeCache.Key"/> and its prefixed forms);
    /// the first call in this process reads the file's items in one pass.</summary>
    public Dictionary<string, string> GetMany(IReadOnlyList<string> keys)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in keys)
            if (TryGet(key, out var text)) found[key] = text.ToString();
        return found;
    }

    /// <summary>Looks up one formatted item, to be written as it is held (no string made of an item read from the
    /// file); the first call in this process reads the file's items in one pass.</summary>
    public bool TryGet(string key, out CachedText text)
    {
        var loaded = 0;
        bool found;
        lock (_gate)
        {
            if (_items is null) loaded = Load();
            found = _items!.TryGetValue(key, out text);
        }
        if (loaded > 0) _owner.CountLoaded(loaded);
        if (found) _owner.CountHits(1);
        return found;
    }

    /// <summary>Keeps a formatted item: at once in memory, on disk behind the reply.</summary>
    public void Add(string key, string value)
    {
        bool held;
        lock (_gate)
        {
            if (_items is not null && !_items.TryAdd(key, new CachedText(value))) return;
            held = _items is not null;
        }
        if (held) _owner.CountLoaded(1);
        _owner.QueueAppend(this, key, value);
    }

    internal void Unload()
    {
        lock (_gate) _items = null;
    }

    /// <summary>The list in the file when it matches <paramref name="info"/>; reads only the header.</summary>
    internal MessageList? TryReadList(MailboxInfo info)
    {
        // Outside the GC heap: the list decodes its records from these bytes for as long as it is shared.
        UnmanagedBytes header;
        try
        {
            using var file = File.OpenHandle(FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            Span<byte> prefix = stackalloc byte[Prefix];
            if (RandomAccess.Read(file, prefix, 0) < Prefix) return Unusable("is shorter than its header");
            if (CheckPrefix(prefix, RandomAccess.GetLength(file), out var length) is { } problem) return Unusable(problem);
            header = new UnmanagedBytes(length);
            for (var read = 0; read < length;)
            {
                var n = RandomAccess.Read(file, header.Span[read..], read);
                if (n == 0) return Unusable("has a header longer than the file");
                read += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // none yet (FileNotFoundException is an IOException), or being replaced
        }
        var h = ParseHeader(header.Span, out var reason);
        GC.KeepAlive(header); // not freed while ParseHeader reads it, whatever follows
        if (h is null) return Unusable(reason!);
        if (!h.Value.Own) return null;
        return h.Value.List is { } at ? DecodeList(header, at, info) : null;
    }

    private MessageList? Unusable(string reason)
    {
        lock (_gate)
        {
            if (_reported) return null;
            _reported = true;
        }
        _owner.ReportUnusable(FilePath, reason);
        return null;
    }

    /// <summary>Reads the file's items into memory (under the gate); returns how many.</summary>
    private int Load()
    {
        _items = new Dictionary<string, CachedText>(StringComparer.Ordinal);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(FilePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        var (itemsAt, reason) = Check(bytes);
        if (itemsAt < 0)
        {
            if (reason is not null && !_reported)
            {
                _reported = true;
                _owner.ReportUnusable(FilePath, reason);
            }
            return 0;
        }
        // Later records win: a key appended twice (a miss computed again while the file was not loaded) is the same text.
        // The texts stay in the bytes read (a FETCH writes them from there), so a 10,000-message file is one array
        // and 10,000 keys, not 20,000 strings to copy and promote through the GC's generations.
        for (var at = itemsAt; NextRecord(bytes, at) is { } rec; at = rec.End)
            _items[new string(MemoryMarshal.Cast<byte, char>(bytes.AsSpan(rec.KeyAt, rec.KeyBytes)))] = new CachedText(bytes, rec.ValueAt, rec.ValueBytes);
        return _items.Count;
    }

    /// <summary>Where the items start, or -1 and why not (null: another mailbox's or UIDVALIDITY's file, no damage).</summary>
    private (int ItemsAt, string? Reason) Check(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Prefix + 4) return (-1, "is shorter than its header");
        if (CheckPrefix(bytes[..Prefix], bytes.Length, out var length) is { } problem) return (-1, problem);
        var h = ParseHeader(bytes[..length], out var reason);
        if (h is null) return (-1, reason);
        return h.Value.Own ? (length, null) : (-1, null);
    }

    /// <summary>Why a file of <paramref name="fileLength"/> bytes that starts with <paramref name="prefix"/> (magic,
    /// format version, header length) cannot be read, or null and the length of its header.</summary>
    private static string? CheckPrefix(ReadOnlySpan<byte> prefix, long fileLength, out int headerLength)
    {
        headerLength = 0;
        if (BinaryPrimitives.ReadInt32LittleEndian(prefix) != Magic) return "is not an IMAP cache file";
        var version = BinaryPrimitives.ReadInt32LittleEndian(prefix[4..]);
        if (version != FormatVersion) return $"has format version {version}, this build reads {FormatVersion}";
        headerLength = BinaryPrimitives.ReadInt32LittleEndian(prefix[8..]);
        return headerLength < Prefix + 4 || headerLength > fileLength ? "has a header longer than the file" : null;
    }

    /// <summary>Checks a whole header (CRC, then names); null and why when it is damaged. Own is false for another
    /// mailbox's or another UIDVALIDITY's file (a hash collision or a re-created mailbox: replaced, not damage).</summary>
    private (bool Own, int? List)? ParseHeader(ReadOnlySpan<byte> header, out string? reason)
    {
        reason = null;
        var body = header[..^4];
        if (Crc32.HashToUInt32(body) != BinaryPrimitives.ReadUInt32LittleEndian(header[^4..]))
        {
            reason = "has a damaged header (CRC-32 mismatch)";
            return null;
        }
        try
        {
            var r = new Reader(body[Prefix..]);
            var own = r.Chars().SequenceEqual(User) & r.Chars().SequenceEqual(Name);
            own &= r.Int64() == UidValidity;
            var hasList = r.Byte() != 0;
            return (own, hasList ? body.Length - r.Remaining : null);
        }
        catch (FormatException)
        {
            reason = "has a malformed header";
            return null;
        }
    }

    /// <summary>The list as arrays over <paramref name="header"/>'s bytes: each message's UID, where its record starts
    /// and its flag set. Checks every record; makes no object per message (<see cref="DecodeRecord"/> does, when a
    /// command asks for one).</summary>
    private static MessageList? DecodeList(UnmanagedBytes header, int at, MailboxInfo info)
    {
        try
        {
            var data = header.Span.Slice(at, header.Length - 4 - at);
            var r = new Reader(data);
            if (r.Int64() != info.UidNext || r.Int64() != info.HighestModSeq) return null;
            var count = r.Int32();
            if (count != info.MessageCount) return null;
            var uids = new long[count];
            var starts = new int[count];
            var flagSet = new int[count];
            // Messages mostly share a few flag sets: one array per distinct set, as the store's reader does.
            var sets = new List<string[]>();
            var setIndexes = new Dictionary<string, int>(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
            var lastText = ReadOnlySpan<char>.Empty;
            var last = -1;
            var previous = 0L;
            var highest = 0L;
            for (var i = 0; i < count; i++)
            {
                starts[i] = at + data.Length - r.Remaining;
                var uid = r.Int64();
                r.Chars(); // the message reference
                r.Int64(); // size
                r.Int64(); // INTERNALDATE
                var modSeq = r.Int64();
                var text = r.Chars();
                if (last < 0 || !text.SequenceEqual(lastText))
                {
                    lastText = text;
                    if (!setIndexes.TryGetValue(text, out last))
                    {
                        last = sets.Count;
                        var key = new string(text);
                        setIndexes.Dictionary[key] = last;
                        sets.Add(key.Length == 0 ? [] : key.Split(' '));
                    }
                }
                // Ascending UIDs below UIDNEXT and MODSEQs up to HIGHESTMODSEQ, or it is not a list of this mailbox.
                if (uid <= previous || uid >= info.UidNext || modSeq > info.HighestModSeq) return null;
                previous = uid;
                if (modSeq > highest) highest = modSeq;
                uids[i] = uid;
                flagSet[i] = last;
            }
            if (r.Remaining != 0) return null;
            IReadOnlyCollection<string>[] flagSets = [.. sets];
            return new MessageList(uids, flagSet, flagSets, highest, i => DecodeRecord(header, starts[i], flagSets[flagSet[i]]));
        }
        catch (FormatException)
        {
            return null;
        }
        finally
        {
            GC.KeepAlive(header);
        }
    }

    /// <summary>The record at <paramref name="start"/> of a header <see cref="DecodeList"/> has checked.</summary>
    private static MessageRecord DecodeRecord(UnmanagedBytes header, int start, IReadOnlyCollection<string> flags)
    {
        var r = new Reader(header.Span[start..]);
        var uid = r.Int64();
        var reference = new string(r.Chars());
        var size = r.Int64();
        var date = DateTimeOffset.FromUnixTimeMilliseconds(r.Int64());
        var modSeq = r.Int64();
        GC.KeepAlive(header);
        return new MessageRecord(uid, reference, size, date, flags, modSeq);
    }

    /// <summary>The record at <paramref name="at"/> when it is whole and its CRC checks.</summary>
    private static (int KeyAt, int KeyBytes, int ValueAt, int ValueBytes, int End)? NextRecord(byte[] bytes, int at)
    {
        if (bytes.Length - at < 4 + 8 + 4) return null;
        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
        if (length < 8 || length > bytes.Length - at - 8) return null;
        var payload = bytes.AsSpan(at + 4, length);
        if (Crc32.HashToUInt32(payload) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 4 + length))) return null;
        var keyChars = BinaryPrimitives.ReadInt32LittleEndian(payload);
        if (keyChars < 0 || 4 + 2L * keyChars + 4 > length) return null;
        var valueAt = 4 + 2 * keyChars;
        var valueChars = BinaryPrimitives.ReadInt32LittleEndian(payload[valueAt..]);
        if (valueChars < 0 || valueAt + 4 + 2L * valueChars != length) return null;
        return (at + 8, 2 * keyChars, at + 4 + valueAt + 4, 2 * valueChars, at + 8 + length);
    }

    // ---- the writer's side (called only by MailboxCacheFiles' one writer task) ----

    /// <summary>Rewrites the file with <paramref name="records"/> as its list, keeping the items of listed messages.</summary>
    internal void WriteList(MailboxInfo info, IReadOnlyList<MessageRecord> records)
    {
        var kept = new MemoryStream();
        var old = ReadForWriter();
        if (old is not null)
        {
            var (itemsAt, _) = Check(old);
            // Sessions queue the lists they read in any order: a list never replaces a newer one (every change
            // takes a new MODSEQ, so a higher HIGHESTMODSEQ is a later list).
            if (itemsAt >= 0 && ListModSeq(old, itemsAt) > info.HighestModSeq) return;
            if (itemsAt >= 0)
            {
                // Items of expunged messages go with the rewrite.
                var listed = new HashSet<string>(records.Count, StringComparer.Ordinal);
                foreach (var m in records) listed.Add(m.MessageRef);
                var lookup = listed.GetAlternateLookup<ReadOnlySpan<char>>();
                var at = itemsAt;
                while (NextRecord(old, at) is { } rec)
                {
                    var key = MemoryMarshal.Cast<byte, char>(old.AsSpan(rec.KeyAt, rec.KeyBytes));
                    var colon = key.IndexOf(':');
                    if (colon >= 0 && lookup.Contains(key[(colon + 1)..])) kept.Write(old, at, rec.End - at);
                    at = rec.End;
                }
            }
        }
        var header = Header(info, records);
        if (Replace(header, kept.GetBuffer().AsSpan(0, (int)kept.Length))) _owner.CountListWritten();
    }

    /// <summary>The HIGHESTMODSEQ of the list in a checked header, or -1 when it holds none.</summary>
    private long ListModSeq(byte[] bytes, int headerLength)
    {
        var h = ParseHeader(bytes.AsSpan(0, headerLength), out _);
        return h?.List is { } at ? BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at + 8)) : -1;
    }

    /// <summary>Appends items; first makes sure the file is this mailbox's and ends with a whole record.</summary>
    internal void Append(List<KeyValuePair<string, string>> batch)
    {
        try
        {
            var length = File.Exists(FilePath) ? new FileInfo(FilePath).Length : -1;
            if (length < 0 || length != _verified)
            {
                var bytes = ReadForWriter();
                var (itemsAt, _) = bytes is null ? (-1, null) : Check(bytes);
                if (itemsAt < 0)
                {
                    if (!Replace(Header(null, []), [])) return;
                }
                else
                {
                    var end = itemsAt;
                    while (NextRecord(bytes!, end) is { } rec) end = rec.End;
                    if (end < bytes!.Length)
                    {
                        using var cut = new FileStream(FilePath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                        cut.SetLength(end);
                        _owner.Logger.LogInformation("IMAP cache file {Path} ended in a torn record ({Bytes} bytes, a crash mid-append); cut off", FilePath, bytes.Length - end);
                    }
                    _verified = end;
                }
            }
            var buffer = new MemoryStream();
            foreach (var (key, value) in batch) WriteRecord(buffer, key, value);
            using (var file = new FileStream(FilePath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
                file.Seek(_verified, SeekOrigin.Begin);
                file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            }
            _verified += buffer.Length;
            _owner.CountWritten(batch.Count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _verified = -1;
            _owner.Logger.LogDebug(e, "IMAP cache file {Path} not written", FilePath);
        }
    }

    private byte[]? ReadForWriter()
    {
        try
        {
            return File.ReadAllBytes(FilePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes header and items to a temporary file and renames it over the file.</summary>
    private bool Replace(ReadOnlySpan<byte> header, ReadOnlySpan<byte> items)
    {
        var temp = FilePath + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(header);
                file.Write(items);
            }
            File.Move(temp, FilePath, overwrite: true);
            _verified = header.Length + items.Length;
            lock (_gate) _reported = false;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _verified = -1;
            _owner.Logger.LogDebug(e, "IMAP cache file {Path} not written", FilePath);
            try
            {
                File.Delete(temp);
            }
            catch (IOException) { }
            return false;
        }
    }

    private byte[] Header(MailboxInfo? info, IReadOnlyList<MessageRecord> records)
    {
        var s = new MemoryStream();
        using (var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write(0); // the header length, set below
            Chars(w, User);
            Chars(w, Name);
            w.Write(UidValidity);
            w.Write((byte)(info is null ? 0 : 1));
            if (info is not null)
            {
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
            }
        }
        var length = (int)s.Length + 4;
        var bytes = new byte[length];
        s.GetBuffer().AsSpan(0, length - 4).CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(length - 4), Crc32.HashToUInt32(bytes.AsSpan(0, length - 4)));
        return bytes;
    }

    private static void Chars(BinaryWriter w, string s)
    {
        w.Write(s.Length);
        w.Write(MemoryMarshal.AsBytes(s.AsSpan()));
    }

    private static void WriteRecord(MemoryStream to, string key, string value)
    {
        var length = 4 + 2 * key.Length + 4 + 2 * value.Length;
        var record = new byte[4 + length + 4];
        var payload = record.AsSpan(4, length);
        BinaryPrimitives.WriteInt32LittleEndian(record, length);
        BinaryPrimitives.WriteInt32LittleEndian(payload, key.Length);
        MemoryMarshal.AsBytes(key.AsSpan()).CopyTo(payload[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(payload[(4 + 2 * key.Length)..], value.Length);
        MemoryMarshal.AsBytes(value.AsSpan()).CopyTo(payload[(8 + 2 * key.Length)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4 + length), Crc32.HashToUInt32(payload));
        to.Write(record);
    }

    /// <summary>Reads the little-endian numbers and UTF-16 strings the header holds; FormatException when it ends early.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly int Remaining => _rest.Length;

        public byte Byte() => Take(1)[0];

        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public ReadOnlySpan<char> Chars()
        {
            var length = Int32();
            if (length < 0 || length > _rest.Length / 2) throw new FormatException("String longer than the header.");
            return MemoryMarshal.Cast<byte, char>(Take(2 * length));
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (_rest.Length < n) throw new FormatException("Header ends early.");
            var taken = _rest[..n];
            _rest = _rest[n..];
            return taken;
        }
    }
}
