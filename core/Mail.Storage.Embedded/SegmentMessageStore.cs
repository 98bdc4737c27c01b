using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// The raw messages the SMTP edge accepts, appended to segment files instead of one file each: the embedded
/// counterpart of Postfix's queue files. Accepting a message then creates no inode and deletes none (on ext4 each
/// creation searches the inode bitmaps, and recently deleted inodes make that search long), and the commit is one
/// group-committed sync (<see cref="DurabilityBarrier"/>) shared with every session finishing at the same moment.
/// <para>Layout of <c>directory/</c>:</para>
/// <list type="bullet">
/// <item><c>NNNNNNNNNNNN.seg</c>: records <c>[magic "SMR1"][commit sequence u64][length i64][id length u16][id]
/// [data][CRC-32 of data u32][magic "SMRE"]</c>. A message that fits its writer's buffer is appended whole, at commit,
/// to the one shared segment; a larger one streams into a segment it has to itself, so data is never buffered whole
/// (<see cref="Writer"/>). Sequence and length are in the header once committed; a record whose length, trailer or
/// checksum does not hold (torn by a crash, or abandoned) ends the scan of its segment, as do the zeros kept written
/// ahead of the end (<see cref="AppendFile"/>, cut off when the segment is sealed).</item>
/// <item><c>NNNNNNNNNNNN.dead</c>: offsets of deleted records of that segment (appended, not synced: a deletion lost in a
/// machine crash only leaves an original behind). When every record of a segment is dead, both files go. When less
/// than half of a full segment is live (a few originals kept for outbound, a quarantine or a discard pin it), its live
/// records are copied into fresh segments, synced, and the old files go: the disk holds at most about twice what is live.</item>
/// <item><c>NNNNNNNNNNNN.idx</c>: the segment's index, so that a start reads a few bytes per record instead of every
/// message: <c>[magic "SMX1"][end i64][count i32]</c>, then per record <c>[commit sequence u64][record offset i64]
/// [length i64][id length u16][id]</c>, then the CRC-32 of all that. Written (atomically, synced) once the records it
/// lists are synced: by the owner after a segment is sealed, and at startup for a segment found without one (the
/// previous run's open segments, a lost or corrupt index). It covers the records before <c>end</c>; a start checks it
/// (magic, checksum, records contiguous from 0, the last record's header and trailer in the segment) and scans the
/// segment after <c>end</c> with checksums as before; an index that fails a check is ignored and rebuilt.</item>
/// <item><c>.owner</c>: held locked by the instance that may delete segment files (the server); another process
/// (the `mail` CLI next to a running server) reads, writes and marks deletions, but never removes a segment.</item>
/// </list>
/// The index (id → segment, offset, length) lives in memory and is rebuilt at startup from the segments' index files
/// and a checksummed scan of what they do not cover (the segments open when the previous run stopped);
/// originals are deleted once delivered, so the segments stay small. When an id is committed twice, the higher
/// commit sequence wins.
/// <para>With <c>deferCommitTo</c> (<see cref="SpoolQueue.EnqueueCommit"/>) a commit publishes the record without waiting for the disk, unlike the
/// <see cref="IMessageStore"/> contract: for the SMTP edge, whose next step (queueing the envelope in the spool
/// journal) waits for the same group commit, which then covers message and envelope (every append enlists its file
/// with the barrier). A machine crash during that sync may keep the envelope and lose the message; such an envelope was never acknowledged, and the
/// inbound spool drops it when it loads (<see cref="SpoolQueue"/>'s <c>keep</c> check).</para>
/// </summary>
public sealed class SegmentMessageStore : IMessageStore, IDisposable
{
    public const long DefaultSegmentSize = 64 * 1024 * 1024;

    private const uint RecordMagic = 0x31524D53;  // "SMR1"
    private const uint TrailerMagic = 0x45524D53; // "SMRE"
    private const int FixedHeader = 4 + 8 + 8 + 2;
    private const int Trailer = 8;
    private const string SegmentExt = ".seg";
    private const string DeadExt = ".dead";
    private const string IndexExt = ".idx";
    private const uint IndexMagic = 0x31584D53; // "SMX1"

    private readonly string _directory;
    private readonly long _segmentSize;
    /// <summary>Null: each commit waits for the disk. Otherwise the group commit a later write of the caller waits for.</summary>
    private readonly GroupCommit? _deferCommitTo;
    private readonly FileStream? _ownerLock;
    private readonly Lock _gate = new();
    /// <summary>Set under the lock when <see cref="Dispose"/> starts: a compaction still running stops.</summary>
    private bool _disposed;
    private readonly Dictionary<string, Location> _index = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Segment> _segments = [];
    private readonly Stack<SegmentWriter> _idle = new();
    private SegmentWriter? _shared;
    private long _nextSegment = 1;
    private ulong _sequence;
    /// <summary>Index files being written, one segment after another, in the background.</summary>
    private Task _indexing = Task.CompletedTask;
    /// <summary>Whether this store keeps index files (the mailbox copies' segments); the spool's originals, deleted
    /// once delivered, need none: the few segments a start finds are scanned.</summary>
    private readonly bool _indexFiles;
    /// <summary>Whether a commit's sync may wait a moment for the SMTP edge's (<see cref="DurabilityBarrier.WhenDurableDeferrableAsync"/>).</summary>
    private readonly bool _deferrable;

    /// <param name="deferCommitTo">Null (the <see cref="IMessageStore"/> contract): a commit returns once its record is
    /// on stable storage. <see cref="SpoolQueue.EnqueueCommit"/>: a commit returns at once, and the caller's next step,
    /// queueing the envelope in a spool, waits for that group commit, which covers the record too.</param>
    /// <param name="indexFiles">Whether sealed segments get an index file (<c>NNN.idx</c>) for the next start. The
    /// spool's originals go without: they are deleted once delivered, so a start finds few segments to scan, and
    /// writing an index for each transient segment only cost disk writes.</param>
    /// <param name="deferrable">Whether nobody waits on the wire for this store's commits (the mailbox copies the worker
    /// writes): a commit's sync may then wait up to <see cref="DurabilityBarrier.DeferWindow"/> to share the SMTP edge's.</param>
    public SegmentMessageStore(string directory, long segmentSize = DefaultSegmentSize, GroupCommit? deferCommitTo = null, bool indexFiles = true, bool deferrable = false)
    {
        _deferrable = deferrable;
        _deferCommitTo = deferCommitTo;
        _indexFiles = indexFiles;
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        _directory = Path.GetFullPath(directory);
        _segmentSize = segmentSize;
        Directory.CreateDirectory(_directory);
        _ownerLock = TryLockOwner(Path.Combine(_directory, ".owner"));
        var unindexed = Load();
        lock (_gate)
        {
            foreach (var number in unindexed) QueueIndex(number);
        }
        StartupCompaction = IsOwner ? Task.Run(CompactSparseSegmentsAsync) : Task.CompletedTask;
    }

    /// <summary>The compaction of the segments found sparse at startup, running in the background (for tests and
    /// diagnostics; it never faults).</summary>
    public Task StartupCompaction { get; }

    public string Root => _directory;

    /// <summary>The index files queued so far, written (for tests and diagnostics; it never faults).</summary>
    public Task Indexing
    {
        get
        {
            lock (_gate) return _indexing;
        }
    }

    /// <summary>Whether this instance may remove segment files (no other process holds the spool).</summary>
    public bool IsOwner => _ownerLock is not null && !Volatile.Read(ref _released);

    /// <summary>Set under the lock at the end of <see cref="Dispose"/>, before the owner lock goes: from then on
    /// another instance may own the directory, so this one removes no file.</summary>
    private bool _released;

    /// <summary>Segment files on disk known to this instance (for tests and diagnostics).</summary>
    public int SegmentCount
    {
        get
        {
            lock (_gate) return _segments.Count;
        }
    }

    public Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default)
    {
        FileMessageStore.ValidateId(id);
        return Task.FromResult<IMessageWriter>(new Writer(this, id));
    }

    /// <summary>For a record too big for its writer's buffer: a segment the writer streams into alone.</summary>
    private SegmentWriter TakePrivate()
    {
        lock (_gate)
        {
            if (!_idle.TryPop(out var writer)) writer = NewSegment();
            writer.Segment.Writing = true;
            return writer;
        }
    }

    /// <summary>Under the lock: a fresh segment file, skipping numbers another process created since this one loaded.</summary>
    private SegmentWriter NewSegment()
    {
        var file = AppendFile.Create(_directory, _nextSegment, SegmentExt, FileAccess.ReadWrite, _segmentSize);
        _nextSegment = file.Number + 1;
        // An index left by a removed segment of the same number (a crash between the two deletions) is not this one's.
        DurableFile.TryDelete(PathOf(file.Number, IndexExt));
        var segment = new Segment(file.Number) { Records = IsOwner && _indexFiles ? [] : null };
        _segments[file.Number] = segment;
        return new SegmentWriter(segment, file);
    }

    public Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default)
    {
        FileMessageStore.ValidateId(id);
        Location location;
        Segment? segment;
        lock (_gate)
        {
            if (!_index.TryGetValue(id, out location)) return Task.FromResult<Stream?>(null);
            // The owner keeps one read handle per segment (IMAP reads one message per FETCH: an open and a close each
            // otherwise). It removes the segment files itself, and drops the handle then (RemoveIfFinished); a reader
            // holding it keeps reading the removed file until it is done, like one that opened it. Another process
            // opens the file per read: the owner may remove it at any time, and a handle kept would keep its space.
            segment = IsOwner ? _segments.GetValueOrDefault(location.Segment) : null;
            if (segment?.Reader is { } reader) return Task.FromResult<Stream?>(reader.Read(location.DataOffset, location.Length));
        }
        var path = PathOf(location.Segment, SegmentExt);
        if (segment is null) return Task.FromResult(ReadOnlyFile.OpenSlice(path, location.DataOffset, location.Length));
#pragma warning disable CA2000 // kept by the segment, disposed by RemoveIfFinished or Dispose
        var opened = ReadOnlyFile.OpenHandle(path);
#pragma warning restore CA2000
        if (opened is null) return Task.FromResult<Stream?>(null);
        lock (_gate)
        {
            // Kept unless the segment went meanwhile; another reader may have kept one first.
            if (segment.Reader is null && !_disposed && _segments.TryGetValue(location.Segment, out var current) && current == segment)
            {
                segment.Reader = new ReadOnlyFile.Shared(opened);
                return Task.FromResult<Stream?>(segment.Reader.Read(location.DataOffset, location.Length));
            }
            if (segment.Reader is { } kept)
            {
                opened.Dispose();
                return Task.FromResult<Stream?>(kept.Read(location.DataOffset, location.Length));
            }
        }
        // The segment went while the file was being opened: this read alone owns the handle.
        return Task.FromResult<Stream?>(ReadOnlyFile.Own(opened, location.DataOffset, location.Length));
    }

    public Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default) => Task.FromResult(Exists(id));

    /// <summary>Whether <paramref name="id"/> is committed: a look in the in-memory index, so callers that must answer
    /// synchronously (the spool's <c>keep</c> check at load) need not block on a task.</summary>
    public bool Exists(string id)
    {
        FileMessageStore.ValidateId(id);
        lock (_gate) return _index.ContainsKey(id);
    }

    public async Task DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        FileMessageStore.ValidateId(id);
        Segment? sparse = null;
        lock (_gate)
        {
            if (_index.Remove(id, out var location))
            {
                MarkDead(location);
                sparse = ClaimForCompaction(location.Segment);
            }
        }
        if (sparse is not null) await CompactAsync(sparse);
    }

    /// <summary>
    /// Under the lock: a sealed segment mostly dead (less than half of it live) but pinned by a few records
    /// (originals kept for outbound, a quarantine, a discard) is claimed for <see cref="CompactAsync"/>.
    /// </summary>
    private Segment? ClaimForCompaction(long number)
    {
        if (!IsOwner || !_segments.TryGetValue(number, out var segment)) return null;
        if (!segment.Sealed || segment.Writing || segment.Compacting || segment.Live == 0 || segment.LiveBytes * 2 >= segment.Size) return null;
        segment.Compacting = true;
        return segment;
    }

    /// <summary>
    /// Copies the live records of a sparse segment into fresh ones, makes the copies durable, then points the index
    /// at them and removes the old file. A crash in between leaves both copies on disk; the later commit sequence wins.
    /// A record deleted or replaced while it was being copied keeps its new state; its copy is marked dead.
    /// </summary>
    private async Task CompactAsync(Segment segment)
    {
        List<(string Id, Location Old)> live;
        lock (_gate) live = _index.Where(kv => kv.Value.Segment == segment.Number).Select(kv => (kv.Key, kv.Value)).ToList();
        var copies = new List<(string Id, Location Old, Location New)>();
        var durable = false;
        try
        {
            foreach (var (id, old) in live)
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
                await using var from = ReadOnlyFile.OpenSlice(PathOf(old.Segment, SegmentExt), old.DataOffset, old.Length)
                    ?? throw new FileNotFoundException("segment removed during compaction", PathOf(old.Segment, SegmentExt));
                var writer = (Writer)await CreateAsync(id);
                await using (writer)
                {
                    var buffer = new byte[64 * 1024];
                    int n;
                    while ((n = await from.ReadAsync(buffer)) > 0) await writer.WriteAsync(buffer.AsMemory(0, n));
                    copies.Add((id, old, await writer.CommitCopyAsync()));
                }
            }
            await DurabilityBarrier.Shared.WhenDurableAsync();
            durable = true;
        }
        finally
        {
            lock (_gate)
            {
                foreach (var (id, old, copy) in copies)
                {
                    // Copies that are not known to be on disk are never pointed at: the old records stay.
                    if (durable && _index.TryGetValue(id, out var current) && current == old)
                    {
                        _index[id] = copy;
                        segment.Live--;
                        segment.LiveBytes -= old.RecordBytes;
                    }
                    else
                    {
                        MarkDead(copy);
                    }
                }
                segment.Compacting = false;
                RemoveIfFinished(segment);
            }
        }
    }

    /// <summary>
    /// Closes the store (the host does at shutdown): the open segments lose the zeros written ahead of their end and,
    /// in a store with index files, get theirs, so the next start reads index files only. Index files being written
    /// are waited for. A segment a writer is still streaming into is left to the next start, as after a crash.
    /// </summary>
    public void Dispose()
    {
        var open = new List<long>();
        Task indexing;
        lock (_gate)
        {
            if (_disposed) return;
            // A compaction still running stops at its next record.
            _disposed = true;
            var writers = _idle.ToList();
            _idle.Clear();
            if (_shared is not null) writers.Add(_shared);
            _shared = null;
            foreach (var w in writers)
            {
                w.Close();
                w.Segment.Sealed = true;
                w.Segment.Size = w.Length;
                if (w.Segment.Live == 0) RemoveIfFinished(w.Segment);
                else if (_segments.ContainsKey(w.Segment.Number)) open.Add(w.Segment.Number);
            }
            indexing = _indexing;
        }
        try
        {
            indexing.Wait();
        }
        catch (AggregateException)
        {
            // WriteIndex never faults; nothing to add.
        }
        foreach (var number in open) WriteIndex(number);
        lock (_gate)
        {
            _released = true;
            DropReaders();
        }
        _ownerLock?.Dispose();
    }

    /// <summary>For tests: what a crash leaves. The handles and the owner lock go; nothing is trimmed, sealed or
    /// indexed (unlike <see cref="Dispose"/>).</summary>
    internal void Crash()
    {
        lock (_gate)
        {
            _disposed = true;
            _released = true;
            while (_idle.TryPop(out var w)) w.File.Handle.Dispose();
            _shared?.File.Handle.Dispose();
            _shared = null;
            DropReaders();
        }
        _ownerLock?.Dispose();
    }

    /// <summary>Under the lock, once this instance is no longer the owner: readers still holding a segment's handle
    /// keep it until they are done.</summary>
    private void DropReaders()
    {
        foreach (var segment in _segments.Values)
        {
            segment.Reader?.Release();
            segment.Reader = null;
            segment.DeadMarks?.Dispose();
            segment.DeadMarks = null;
        }
    }

    private string PathOf(long number, string ext) => NumberedFiles.PathOf(_directory, number, ext);

    private static FileStream? TryLockOwner(string path)
    {
        try
        {
            // FileShare.None is an exclusive advisory lock (flock) on Unix, held as long as the stream is open.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Under the lock: one record fewer in its segment, remembered on disk; a finished, empty segment goes.</summary>
    private void MarkDead(Location location)
    {
        var segment = _segments[location.Segment];
        segment.Live--;
        segment.LiveBytes -= location.RecordBytes;
        Span<byte> offset = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(offset, location.RecordOffset);
        try
        {
            if (IsOwner)
            {
                // The owner keeps the file open (an open and a close per delivered message otherwise); the end is taken
                // at each write, as an append opened anew would, since another process may mark deletions too.
                var dead = segment.DeadMarks ??= File.OpenHandle(PathOf(location.Segment, DeadExt), FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                RandomAccess.Write(dead, offset, RandomAccess.GetLength(dead));
            }
            else
            {
                using var dead = new FileStream(PathOf(location.Segment, DeadExt), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1);
                dead.Write(offset);
            }
        }
        catch (IOException)
        {
            // Only an original left behind (see class remarks).
        }
        RemoveIfFinished(segment);
    }

    private void RemoveIfFinished(Segment segment)
    {
        if (!IsOwner || segment.Live > 0 || segment.Writing || !segment.Sealed) return;
        DurableFile.TryDelete(PathOf(segment.Number, IndexExt));
        DurableFile.TryDelete(PathOf(segment.Number, SegmentExt));
        DurableFile.TryDelete(PathOf(segment.Number, DeadExt));
        _segments.Remove(segment.Number);
        segment.DeadMarks?.Dispose();
        segment.DeadMarks = null;
        // Closed once the last reader sharing it is done (a SafeHandle counts them).
        segment.Reader?.Release();
        segment.Reader = null;
    }

    /// <summary>Under the lock: a writer is done with its segment; it is reused until full, then sealed.</summary>
    private void Release(SegmentWriter writer)
    {
        writer.Segment.Writing = false;
        if (writer.Length < _segmentSize)
        {
            _idle.Push(writer);
            return;
        }
        Seal(writer);
    }

    /// <summary>Under the lock: a full segment is closed and never appended to again.</summary>
    private void Seal(SegmentWriter writer)
    {
        writer.Close();
        writer.Segment.Sealed = true;
        writer.Segment.Size = writer.Length;
        RemoveIfFinished(writer.Segment);
        if (_segments.ContainsKey(writer.Segment.Number)) QueueIndex(writer.Segment.Number);
    }

    /// <summary>Under the lock: the owner writes the index file of a segment no writer of its own appends to.</summary>
    private void QueueIndex(long number)
    {
        if (!IsOwner || !_indexFiles) return;
        _indexing = _indexing.ContinueWith(_ => WriteIndex(number), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    /// <summary>
    /// The index file of a sealed segment, from the records this instance wrote or loaded into it (kept in memory until
    /// then), not from a read of the segment. The segment is synced first: the index lists only records on stable
    /// storage, so a crash at any point leaves either no index (the next start scans the segment) or one that holds.
    /// </summary>
    private void WriteIndex(long number)
    {
        try
        {
            List<(string Id, ulong Sequence, Location Location)> records;
            lock (_gate)
            {
                if (!IsOwner || !_segments.TryGetValue(number, out var segment) || segment.Records is not { Count: > 0 } kept) return;
                // Every record listed was written before this point: the sync below covers it.
                records = kept;
                segment.Records = null;
            }
            using (var handle = File.OpenHandle(PathOf(number, SegmentExt), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                DurableFile.DataSync(handle);
            }
            DurableFile.WriteAtomic(PathOf(number, IndexExt), EncodeIndex(records), sync: true);
            lock (_gate)
            {
                // Removed meanwhile (all of it deleted, or compacted): its index goes too.
                if (!_segments.ContainsKey(number)) DurableFile.TryDelete(PathOf(number, IndexExt));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No index: the next start scans the segment and tries again.
        }
    }

    private static byte[] EncodeIndex(List<(string Id, ulong Sequence, Location Location)> records)
    {
        var size = 4 + 8 + 4 + 4 + records.Sum(r => 8 + 8 + 8 + 2 + r.Id.Length);
        var bytes = new byte[size];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, IndexMagic);
        var last = records[^1].Location;
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], last.RecordOffset + last.RecordBytes);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], records.Count);
        var at = 16;
        foreach (var (id, sequence, location) in records)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[at..], sequence);
            BinaryPrimitives.WriteInt64LittleEndian(span[(at + 8)..], location.RecordOffset);
            BinaryPrimitives.WriteInt64LittleEndian(span[(at + 16)..], location.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(span[(at + 24)..], (ushort)id.Length);
            Encoding.ASCII.GetBytes(id, span[(at + 26)..]);
            at += 26 + id.Length;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(span[at..], Crc32.HashToUInt32(span[..at]));
        return bytes;
    }

    /// <summary>
    /// The records a segment's index file lists and the end of the last, or null when there is no index file or it
    /// fails a check: its magic or checksum, records not contiguous from offset 0, or the last record's header and
    /// trailer not found where it says (a stale index of a removed segment whose number was reused).
    /// </summary>
    private (List<(string Id, ulong Sequence, Location Location)> Records, long End)? ReadIndex(long number)
    {
        try
        {
            var bytes = File.ReadAllBytes(PathOf(number, IndexExt));
            if (bytes.Length < 20 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != IndexMagic) return null;
            var body = bytes.AsSpan(0, bytes.Length - 4);
            if (Crc32.HashToUInt32(body) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4))) return null;
            var end = BinaryPrimitives.ReadInt64LittleEndian(body[4..]);
            var count = BinaryPrimitives.ReadInt32LittleEndian(body[12..]);
            if (count <= 0) return null;
            var records = new List<(string Id, ulong Sequence, Location Location)>(Math.Min(count, body.Length / 27));
            var at = 16;
            long next = 0;
            for (var i = 0; i < count; i++)
            {
                if (at + 26 > body.Length) return null;
                var sequence = BinaryPrimitives.ReadUInt64LittleEndian(body[at..]);
                var recordOffset = BinaryPrimitives.ReadInt64LittleEndian(body[(at + 8)..]);
                var length = BinaryPrimitives.ReadInt64LittleEndian(body[(at + 16)..]);
                var idLength = BinaryPrimitives.ReadUInt16LittleEndian(body[(at + 24)..]);
                if (at + 26 + idLength > body.Length || idLength is 0 or > 200) return null;
                var id = Encoding.ASCII.GetString(body.Slice(at + 26, idLength));
                if (sequence == 0 || length < 0 || recordOffset != next || !FileMessageStore.IsValidId(id)) return null;
                var location = new Location(number, recordOffset, recordOffset + FixedHeader + idLength, length);
                records.Add((id, sequence, location));
                next = recordOffset + location.RecordBytes;
                at += 26 + idLength;
            }
            if (at != body.Length || next != end) return null;
            var (lastId, lastSequence, last) = records[^1];
            return HasRecordAt(PathOf(number, SegmentExt), lastId, lastSequence, last) ? (records, end) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether the segment holds the record's header and trailer where its index says (its data is not read).</summary>
    private static bool HasRecordAt(string path, string id, ulong sequence, Location location)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (RandomAccess.GetLength(handle) < location.RecordOffset + location.RecordBytes) return false;
        var header = new byte[FixedHeader + id.Length];
        var trailer = new byte[Trailer];
        if (RandomAccess.Read(handle, header, location.RecordOffset) != header.Length) return false;
        if (RandomAccess.Read(handle, trailer, location.DataOffset + location.Length) != trailer.Length) return false;
        return BinaryPrimitives.ReadUInt32LittleEndian(header) == RecordMagic
            && BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(4)) == sequence
            && BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(12)) == location.Length
            && BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(20)) == id.Length
            && header.AsSpan(FixedHeader).SequenceEqual(Encoding.ASCII.GetBytes(id))
            && BinaryPrimitives.ReadUInt32LittleEndian(trailer.AsSpan(4)) == TrailerMagic;
    }

    /// <summary>Rebuilds the in-memory index; returns the segments whose index file is missing, fails its checks or
    /// does not cover every record (the owner writes it).</summary>
    private List<long> Load()
    {
        var sequences = new Dictionary<string, ulong>(StringComparer.Ordinal);
        var unindexed = new List<long>();
        foreach (var (number, _) in NumberedFiles.List(_directory, SegmentExt))
        {
            // Segments found at startup are never written again: this instance appends to new ones.
            var segment = new Segment(number) { Sealed = true };
            _segments[number] = segment;
            _nextSegment = Math.Max(_nextSegment, number + 1);
            var dead = ReadDead(PathOf(number, DeadExt));
            var indexed = ReadIndex(number);
            var tail = Scan(PathOf(number, SegmentExt), number, indexed?.End ?? 0).ToList();
            var all = indexed is { } i ? i.Records.Concat(tail).ToList() : tail;
            if (indexed is null || tail.Count > 0)
            {
                unindexed.Add(number);
                // Kept for the index file the owner writes (WriteIndex), then dropped.
                if (_indexFiles && _ownerLock is not null && all.Count > 0) segment.Records = all;
            }
            foreach (var r in all)
            {
                // The end of the last intact record: a crash leaves zeros (AppendFile) or a torn record after it.
                segment.Size = r.Location.RecordOffset + r.Location.RecordBytes;
                _sequence = Math.Max(_sequence, r.Sequence);
                if (dead.Contains(r.Location.RecordOffset)) continue;
                if (_index.TryGetValue(r.Id, out var older))
                {
                    if (sequences[r.Id] > r.Sequence) continue;
                    _segments[older.Segment].Live--;
                    _segments[older.Segment].LiveBytes -= older.RecordBytes;
                }
                segment.Live++;
                segment.LiveBytes += r.Location.RecordBytes;
                _index[r.Id] = r.Location;
                sequences[r.Id] = r.Sequence;
            }
        }
        foreach (var segment in _segments.Values.ToList()) RemoveIfFinished(segment);
        if (IsOwner)
        {
            // Indexes whose segment is gone (a crash between the two deletions).
            foreach (var (number, path) in NumberedFiles.List(_directory, IndexExt))
            {
                if (!_segments.ContainsKey(number)) DurableFile.TryDelete(path);
            }
        }
        unindexed.RemoveAll(n => !_segments.ContainsKey(n));
        return unindexed;
    }

    /// <summary>
    /// Segments left sparse by the previous run (pinned by a few long-lived originals) are compacted once at startup,
    /// since no further deletion in them may come to trigger it. In the background: the store serves reads and writes
    /// meanwhile (the index points at the old records until the copies are durable), and a constructor does not block
    /// on disk syncs. A failure leaves the old records where they are; the next start tries again.
    /// </summary>
    private async Task CompactSparseSegmentsAsync()
    {
        List<long> numbers;
        lock (_gate) numbers = [.. _segments.Keys];
        foreach (var number in numbers)
        {
            Segment? sparse;
            lock (_gate) sparse = ClaimForCompaction(number);
            if (sparse is null) continue;
            try
            {
                await CompactAsync(sparse);
            }
            catch (Exception)
            {
                // Nobody awaits this task: whatever went wrong (a full disk, the store disposed), the old records
                // stay readable and the next start compacts again.
                return;
            }
        }
    }

    private static HashSet<long> ReadDead(string path)
    {
        var set = new HashSet<long>();
        try
        {
            var bytes = File.ReadAllBytes(path);
            for (var i = 0; i + 8 <= bytes.Length; i += 8) set.Add(BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(i)));
        }
        catch (FileNotFoundException)
        {
        }
        return set;
    }

    /// <summary>The intact records of a segment from <paramref name="from"/> on, in order; stops at the first that
    /// does not check out.</summary>
    private static IEnumerable<(string Id, ulong Sequence, Location Location)> Scan(string path, long number, long from)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024);
        var header = new byte[FixedHeader];
        var trailer = new byte[Trailer];
        var buffer = new byte[64 * 1024];
        var offset = from;
        while (true)
        {
            fs.Position = offset;
            if (fs.ReadAtLeast(header, FixedHeader, throwOnEndOfStream: false) < FixedHeader) yield break;
            if (BinaryPrimitives.ReadUInt32LittleEndian(header) != RecordMagic) yield break;
            var sequence = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(4));
            var length = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(12));
            var idLength = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(20));
            if (sequence == 0 || length < 0 || idLength is 0 or > 200) yield break;
            var idBytes = new byte[idLength];
            if (fs.ReadAtLeast(idBytes, idLength, throwOnEndOfStream: false) < idLength) yield break;
            var id = Encoding.ASCII.GetString(idBytes);
            if (!FileMessageStore.IsValidId(id)) yield break;
            var dataOffset = offset + FixedHeader + idLength;
            if (dataOffset + length + Trailer > fs.Length) yield break;
            var crc = new Crc32();
            for (var left = length; left > 0;)
            {
                var n = fs.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n <= 0) yield break;
                crc.Append(buffer.AsSpan(0, n));
                left -= n;
            }
            fs.ReadExactly(trailer);
            if (BinaryPrimitives.ReadUInt32LittleEndian(trailer.AsSpan(4)) != TrailerMagic
                || BinaryPrimitives.ReadUInt32LittleEndian(trailer) != crc.GetCurrentHashAsUInt32()) yield break;
            yield return (id, sequence, new Location(number, offset, dataOffset, length));
            offset = dataOffset + length + Trailer;
        }
    }

    private readonly record struct Location(long Segment, long RecordOffset, long DataOffset, long Length)
    {
        /// <summary>The whole record: header, data, trailer.</summary>
        public long RecordBytes => DataOffset - RecordOffset + Length + Trailer;
    }

    private sealed class Segment(long number)
    {
        public long Number { get; } = number;
        public int Live { get; set; }
        /// <summary>Bytes of the live records (framing included), and of the file once sealed.</summary>
        public long LiveBytes { get; set; }
        public long Size { get; set; }
        public bool Compacting { get; set; }
        /// <summary>A writer of this instance is streaming a record into it.</summary>
        public bool Writing { get; set; }
        /// <summary>No writer of this instance will append to it again.</summary>
        public bool Sealed { get; set; }
        /// <summary>The owner's read handle on the segment file, shared by its readers (under the store's lock).</summary>
        public ReadOnlyFile.Shared? Reader { get; set; }
        /// <summary>The owner's handle on the segment's <c>.dead</c> file, kept open once it marked a deletion (under the
        /// store's lock; closed with the segment or when this instance stops being the owner).</summary>
        public Microsoft.Win32.SafeHandles.SafeFileHandle? DeadMarks { get; set; }
        /// <summary>Every record of the segment in file order (dead ones too: an index lists the records contiguously),
        /// kept by the owner of a store with index files until <see cref="WriteIndex"/> has written them; else null.</summary>
        public List<(string Id, ulong Sequence, Location Location)>? Records { get; set; }
    }

    /// <summary>An open segment and its end: the shared one, or one a message writer streams into alone.</summary>
    private sealed class SegmentWriter(Segment segment, AppendFile file)
    {
        public Segment Segment { get; } = segment;
        public AppendFile File { get; } = file;
        public long Length { get; set; }

        /// <summary>Done appending: the spare zeros go, then the handle.</summary>
        public void Close() => File.Close(Length);
    }

    /// <summary>
    /// Streams one record. The header, the data and the trailer go through one buffer that starts with the header.
    /// A message that fits (most do) is appended at commit, header fields filled in, with a single pwrite to the
    /// <em>shared</em> segment, where every writer's small records follow one another: a group commit then writes
    /// one contiguous run of blocks instead of a few blocks (and an inode) in each of twenty files. The append happens under the store's lock, so records land in the order of
    /// their offsets and a crash can only tear the last one. A larger message takes a segment of its own when the
    /// buffer first fills, writes the buffer out whenever it fills (header with "unfinished" placeholders first)
    /// and, at commit, writes the sequence and length into the header in place.
    /// </summary>
    private sealed class Writer : IMessageWriter
    {
        private const int BufferSize = 64 * 1024;

        private readonly SegmentMessageStore _store;
        private readonly int _headerLength;
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly Crc32 _crc = new();
        // Pooled: a fresh 64 KiB array per message was zeroed by the runtime every time.
        private readonly byte[] _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(BufferSize);
        private SegmentWriter? _private;
        private long _recordOffset;
        private int _buffered;
        private long _flushed;
        private bool _done;

        public Writer(SegmentMessageStore store, string id)
        {
            (_store, Id) = (store, id);
            _headerLength = FixedHeader + id.Length;
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer, RecordMagic);
            // Sequence 0 and length -1 until commit: an unfinished record never scans as valid.
            BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(4), 0);
            BinaryPrimitives.WriteInt64LittleEndian(_buffer.AsSpan(12), -1);
            BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(20), (ushort)id.Length);
            Encoding.ASCII.GetBytes(id, _buffer.AsSpan(FixedHeader));
            _buffered = _headerLength;
        }

        public string Id { get; }

        public long Length { get; private set; }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            var span = data.Span;
            _sha.AppendData(span);
            _crc.Append(span);
            Length += span.Length;
            while (span.Length > 0)
            {
                var n = Math.Min(span.Length, _buffer.Length - _buffered);
                span[..n].CopyTo(_buffer.AsSpan(_buffered));
                _buffered += n;
                span = span[n..];
                if (_buffered == _buffer.Length) Flush();
            }
            return ValueTask.CompletedTask;
        }

        public async Task<StoredMessage> CommitAsync(CancellationToken cancellationToken = default)
        {
            var location = WriteOut();
            // One sync for header, data and trailer: a record torn by a crash fails its checksum and is not loaded.
            if (_store._deferCommitTo is null)
            {
                try
                {
                    await (_store._deferrable ? DurabilityBarrier.Shared.WhenDurableDeferrableAsync() : DurabilityBarrier.Shared.WhenDurableAsync());
                }
                catch
                {
                    // Never acknowledged, so never indexed: the record is as good as deleted.
                    lock (_store._gate) _store.MarkDead(location);
                    throw;
                }
            }
            lock (_store._gate)
            {
                if (_store._index.Remove(Id, out var replaced)) _store.MarkDead(replaced);
                _store._index[Id] = location;
            }
            var sha = Convert.ToHexStringLower(_sha.GetHashAndReset());
            _sha.Dispose();
            return new StoredMessage(Id, Length, sha);
        }

        /// <summary>For compaction: the record is written (not yet durable, not in the index); the caller syncs and
        /// then decides what the index points at.</summary>
        public Task<Location> CommitCopyAsync()
        {
            var location = WriteOut();
            _sha.Dispose();
            return Task.FromResult(location);
        }

        /// <summary>
        /// Trailer, header fields and the last bytes out to the file; the record counts in its segment and the
        /// buffer goes back. Returns where the record lives.
        /// </summary>
        private Location WriteOut()
        {
            ObjectDisposedException.ThrowIf(_done, this);
            if (_buffer.Length - _buffered < Trailer) Flush();
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_buffered), _crc.GetCurrentHashAsUInt32());
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_buffered + 4), TrailerMagic);
            _buffered += Trailer;
            var location = _private is null ? AppendShared() : FinishPrivate();
            _done = true;
            System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
            return location;
        }

        /// <summary>The whole record, header included, is in the buffer: one append to the shared segment.</summary>
        private Location AppendShared()
        {
            var store = _store;
            lock (store._gate)
            {
                var sequence = ++store._sequence;
                BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(4), sequence);
                BinaryPrimitives.WriteInt64LittleEndian(_buffer.AsSpan(12), Length);
                var shared = store._shared ??= store._idle.TryPop(out var idle) ? idle : store.NewSegment();
                var offset = shared.Length;
                shared.File.Append(_buffer.AsSpan(0, _buffered), offset);
                shared.Length = offset + _buffered;
                var location = new Location(shared.Segment.Number, offset, offset + _headerLength, Length);
                Count(shared.Segment, Id, sequence, location);
                if (shared.Length >= store._segmentSize)
                {
                    store._shared = null;
                    store.Seal(shared);
                }
                return location;
            }
        }

        /// <summary>The record was streamed into a segment of its own: the rest, then the header fields in place.</summary>
        private Location FinishPrivate()
        {
            var segment = _private!;
            Flush();
            ulong sequence;
            lock (_store._gate) sequence = ++_store._sequence;
            var fields = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(fields, sequence);
            BinaryPrimitives.WriteInt64LittleEndian(fields.AsSpan(8), Length);
            segment.File.Overwrite(fields, _recordOffset + 4);
            var location = new Location(segment.Segment.Number, _recordOffset, _recordOffset + _headerLength, Length);
            lock (_store._gate)
            {
                segment.Length = _recordOffset + _flushed;
                Count(segment.Segment, Id, sequence, location);
                _store.Release(segment);
            }
            return location;
        }

        /// <summary>Under the store's lock: a record written to the segment, live, and listed for its index file.</summary>
        private static void Count(Segment segment, string id, ulong sequence, Location location)
        {
            segment.Live++;
            segment.LiveBytes += location.RecordBytes;
            segment.Records?.Add((id, sequence, location));
        }

        public ValueTask DisposeAsync()
        {
            if (_done) return ValueTask.CompletedTask;
            _done = true;
            _sha.Dispose();
            System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
            // Abandoned: the next record of a private segment starts where this one did (its header, if written,
            // says "unfinished"); nothing of it reached the shared segment.
            if (_private is { } segment)
            {
                lock (_store._gate) _store.Release(segment);
            }
            return ValueTask.CompletedTask;
        }

        /// <summary>The buffer is full (or the record is being finished in a private segment): out to the file.</summary>
        private void Flush()
        {
            if (_buffered == 0) return;
            if (_private is null)
            {
                _private = _store.TakePrivate();
                _recordOffset = _private.Length;
            }
            _private.File.Append(_buffer.AsSpan(0, _buffered), _recordOffset + _flushed);
            _flushed += _buffered;
            _buffered = 0;
        }
    }
}
