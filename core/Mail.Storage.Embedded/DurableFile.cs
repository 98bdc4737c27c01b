using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mail.Storage.Embedded;

/// <summary>
/// The two steps that make a file survive a crash on POSIX: fsync the file's data, and fsync the
/// directory so the rename that published it is on disk too (rename alone is atomic, not durable).
/// </summary>
internal static partial class DurableFile
{
    /// <summary>fsync(2) on a directory. .NET cannot open a directory as a stream, so this goes to libc.
    /// Windows has no directory fsync (NTFS journals the rename), so it is a no-op there.</summary>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        var fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == 2 /* ENOENT */) throw new DirectoryNotFoundException($"{directory} no longer exists");
            throw new IOException($"open({directory}) for fsync failed: errno {errno}");
        }
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>syncfs(2) of the file system holding <paramref name="directory"/>: every dirty page and inode on it is
    /// written and the device cache flushed (Linux only; it reports write-back errors since Linux 5.8).</summary>
    public static void SyncFileSystem(string directory)
    {
        // One directory per file system stays open for the life of the process: no open(2) per sync.
        var fd = s_syncHandles.GetOrAdd(DeviceOf(directory), static (_, d) =>
        {
            var opened = Open(d, 0 /* O_RDONLY */);
            if (opened < 0) throw new IOException($"open({d}) for syncfs failed: errno {Marshal.GetLastPInvokeError()}");
            return opened;
        }, directory);
        if (SyncFs(fd) != 0) throw new IOException($"syncfs({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, int> s_syncHandles = new();

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, ulong> s_devices = new(StringComparer.Ordinal);

    /// <summary>The device (file system) a directory lives on, from statx(2); cached, directories do not move.</summary>
    public static unsafe ulong DeviceOf(string directory) => s_devices.GetOrAdd(directory, static d =>
    {
        // struct statx is the same on every architecture: stx_dev_major at offset 136, stx_dev_minor at 140.
        var buffer = stackalloc byte[256];
        if (Statx(-100 /* AT_FDCWD */, d, 0, 0, buffer) != 0) throw new IOException($"statx({d}) failed: errno {Marshal.GetLastPInvokeError()}");
        return ((ulong)*(uint*)(buffer + 136) << 32) | *(uint*)(buffer + 140);
    });

    /// <summary>Whether <paramref name="handle"/> is still the file named <paramref name="path"/> (same device and inode,
    /// from statx(2)); false when the name is gone or names another file now.</summary>
    public static unsafe bool SameFile(SafeFileHandle handle, string path)
    {
        // stx_ino at offset 32, stx_dev_major/minor at 136/140 (see DeviceOf).
        var named = stackalloc byte[256];
        var open = stackalloc byte[256];
        if (Statx(-100 /* AT_FDCWD */, path, 0, 0x100 /* STATX_INO */, named) != 0) return false;
        if (Statx((int)handle.DangerousGetHandle(), "", 0x1000 /* AT_EMPTY_PATH */, 0x100, open) != 0) return false;
        return *(ulong*)(named + 32) == *(ulong*)(open + 32) && *(ulong*)(named + 136) == *(ulong*)(open + 136);
    }

    /// <summary>
    /// Whether overwriting written blocks of this file changes no metadata that reading them back depends on: true for
    /// ext2/3/4, XFS and tmpfs (from fstatfs(2)), false elsewhere, notably on copy-on-write file systems (Btrfs, ZFS,
    /// bcachefs), which write every change to a new place and need an fsync to point at it.
    /// </summary>
    public static unsafe bool OverwritesInPlace(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux()) return false;
        // struct statfs begins with f_type (a long on 64-bit Linux).
        var buffer = stackalloc long[32];
        if (FStatFs((int)handle.DangerousGetHandle(), buffer) != 0) return false;
        return buffer[0] is 0xEF53 /* ext2/3/4 */ or 0x58465342 /* XFS */ or 0x01021994 /* tmpfs */;
    }

    /// <summary>sync_file_range(2) SYNC_FILE_RANGE_WRITE: starts writing the file's dirty pages back, without waiting.</summary>
    public static void StartWriteback(SafeFileHandle handle) => SyncFileRange(handle, 2 /* WRITE */);

    /// <summary>sync_file_range(2) with WAIT_BEFORE | WRITE | WAIT_AFTER: every dirty page of the file has reached the
    /// device when it returns. Neither metadata nor the device's volatile cache: see <see cref="DataSync"/>.</summary>
    public static void WaitWriteback(SafeFileHandle handle) => SyncFileRange(handle, 1 | 2 | 4);

    /// <summary>fdatasync(2): the file's data and the metadata needed to read it, then a flush of the device cache,
    /// which also covers every write that completed before it, to any file of that device.</summary>
    public static void DataSync(SafeFileHandle handle)
    {
        if (FDataSync((int)handle.DangerousGetHandle()) != 0) throw new IOException($"fdatasync failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private static void SyncFileRange(SafeFileHandle handle, uint flags)
    {
        if (SyncFileRange((int)handle.DangerousGetHandle(), 0, 0, flags) != 0) throw new IOException($"sync_file_range failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Writes bytes to a temporary file, fsyncs it and renames it over <paramref name="path"/>.
    /// The directory is not synced here: callers batch that through <see cref="DurabilityBarrier"/>.</summary>
    public static void WriteAtomic(string path, ReadOnlySpan<byte> content, bool sync)
    {
        var dir = Path.GetDirectoryName(path)!;
        var tmp = Path.Combine(dir, ".tmp-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                fs.Write(content);
                if (sync) fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long count, uint flags);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static unsafe partial int FStatFs(int fd, long* buffer);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
