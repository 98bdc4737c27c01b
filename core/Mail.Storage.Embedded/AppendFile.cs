using Microsoft.Win32.SafeHandles;

namespace Mail.Storage.Embedded;

/// <summary>
/// An append-only file of records (a spool journal segment, a message segment), written so that the group commit
/// (<see cref="DurabilityBarrier"/>) can make its appends durable by writing back its own pages and nothing else.
/// <list type="bullet">
/// <item><b>Zeros ahead of the end.</b> Appends overwrite blocks the file system has already allocated instead of
/// extending the file. On ext4 (delayed allocation, dioread_nolock) each sync after an extending append must allocate
/// the new blocks, write them as unwritten extents, convert those afterwards and write the grown inode; an overwrite
/// only writes data, so the sync that acknowledges a message is shorter (bench/README.md, "Figures behind the code").
/// Databases prepare their logs the same way (PostgreSQL's
/// <c>wal_init_zero</c>). Readers of both formats stop at a zero frame header, so a zero tail reads as "no more
/// records".</item>
/// <item><b>Metadata only when it changed.</b> Every append enlists the file with the barrier. Once the zeros under an
/// append are on disk, that append changes no metadata the data depends on, so writing the pages back and one device
/// cache flush for the whole batch make it durable (<see cref="MetadataPending"/> is false). Only after the file was
/// created or grew by a chunk of zeros does the barrier fsync it (and its directory, after creation).</item>
/// </list>
/// Not thread-safe: each owner appends under its own lock.
/// </summary>
internal sealed class AppendFile
{
    private const int MaxChunk = 1024 * 1024;

    private static readonly byte[] Zeros = new byte[MaxChunk];

    private readonly long _chunk;
    private long _filledTo;
    // Bumped before every change of size or blocks; the barrier records the value it last made durable.
    private long _growth = 1;
    private long _syncedGrowth;

    private AppendFile(string directory, long number, SafeFileHandle handle, long segmentSize)
    {
        (Directory, Number, Handle) = (directory, number, handle);
        _chunk = Math.Clamp(segmentSize / 4, 4096, MaxChunk);
        OverwritesInPlace = DurableFile.OverwritesInPlace(handle);
    }

    /// <summary>A new file numbered <paramref name="atLeast"/> or the next free one (<see cref="NumberedFiles"/>).</summary>
    /// <param name="segmentSize">The size at which the owner seals the file: chunks of zeros are a quarter of it,
    /// 4 KiB to 1 MiB.</param>
    public static AppendFile Create(string directory, long atLeast, string extension, FileAccess access, long segmentSize)
    {
        var (number, handle) = NumberedFiles.CreateNew(directory, atLeast, extension, access);
        return new AppendFile(directory, number, handle, segmentSize);
    }

    public string Directory { get; }

    public long Number { get; }

    public SafeFileHandle Handle { get; }

    /// <summary>Whether an overwrite of written blocks changes no metadata on this file system (ext4, XFS, tmpfs),
    /// so that writing the pages back is enough. Copy-on-write file systems (Btrfs, ZFS) place every write anew.</summary>
    public bool OverwritesInPlace { get; }

    /// <summary>Whether the file was created or grew since the barrier last fsynced it.</summary>
    public bool MetadataPending => Volatile.Read(ref _growth) != _syncedGrowth;

    /// <summary>Whether its name in the directory has never been synced.</summary>
    public bool DirectoryPending { get; private set; } = true;

    /// <summary>Appends <paramref name="data"/> at <paramref name="offset"/>, the end of the records, into space filled
    /// with zeros beforehand, and enlists the file with the next group commit.</summary>
    public void Append(ReadOnlySpan<byte> data, long offset)
    {
        Prepare(offset + data.Length);
        Overwrite(data, offset);
    }

    /// <summary>Writes into space already filled (by the zeros ahead, or by an earlier append whose header is filled
    /// in at commit) and enlists the file with the next group commit, which may not be the one that covered the
    /// first write there.</summary>
    public void Overwrite(ReadOnlySpan<byte> data, long offset)
    {
        RandomAccess.Write(Handle, data, offset);
        DurabilityBarrier.Shared.Enlist(this);
    }

    /// <summary>
    /// Before a write up to <paramref name="end"/>: once a write comes within half a chunk of the zeros' end, another
    /// chunk is filled, so writes land in space filled (and usually synced) well before.
    /// </summary>
    private void Prepare(long end)
    {
        while (end + _chunk / 2 > _filledTo)
        {
            Interlocked.Increment(ref _growth);
            RandomAccess.Write(Handle, Zeros.AsSpan(0, (int)_chunk), _filledTo);
            _filledTo += _chunk;
        }
    }

    /// <summary>The barrier, before an fsync of the file: what that fsync will cover.</summary>
    internal long Growth => Volatile.Read(ref _growth);

    /// <summary>The barrier, after the fsync (and the directory's, the first time).</summary>
    internal void MetadataSynced(long growth)
    {
        _syncedGrowth = growth;
        DirectoryPending = false;
    }

    /// <summary>Done appending: the spare zeros after <paramref name="length"/> go, then the handle (which the barrier
    /// keeps open until it has synced what was enlisted).</summary>
    public void Close(long length)
    {
        try
        {
            RandomAccess.SetLength(Handle, length);
        }
        catch (IOException)
        {
            // Only spare zeros left on disk; readers stop at them.
        }
        Handle.Dispose();
    }
}
