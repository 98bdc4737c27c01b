using System.Runtime.InteropServices;

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
        if (fd < 0) throw new IOException($"open({directory}) for fsync failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Writes bytes to a temporary file, fsyncs it and renames it over <paramref name="path"/>.
    /// The directory is not synced here: callers batch that through <see cref="GroupSync"/>.</summary>
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
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
