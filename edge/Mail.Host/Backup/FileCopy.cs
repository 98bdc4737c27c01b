using System.Security.Cryptography;

namespace Mail.Host.Backup;

/// <summary>Copies one file for a backup or a restore: the bytes hashed on the way, the Unix mode kept exactly (a
/// DKIM key stays 0600 from its first byte: the mode is given at creation, never widened and then narrowed), and the
/// data on the disk before the copy counts as done.</summary>
internal static class FileCopy
{
    /// <summary>The copy's size and SHA-256, or null when the source vanished before it was opened (a spool segment
    /// compacted away, a message expunged): the caller decides whether that matters.</summary>
    public static async Task<(long Size, string Sha256)?> CopyAsync(string source, string target, UnixFileMode mode, CancellationToken cancellationToken = default)
    {
        FileStream input;
        try
        {
            // Writers keep appending (spool journals, segments): what is read is a prefix, which their readers accept
            // as they accept a crash's (a torn last record ends the scan).
            // Disposed by the `await using (input)` below; the analyzer does not follow the try/catch around the open.
#pragma warning disable CA2000
            input = new FileStream(source, new FileStreamOptions
            {
                Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, Options = FileOptions.SequentialScan,
            });
#pragma warning restore CA2000
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        await using (input)
        {
            var created = mode & ~(UnixFileMode.SetUser | UnixFileMode.SetGroup | UnixFileMode.StickyBit);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = created;
            await using var output = new FileStream(target, options);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[128 * 1024];
            long size = 0;
            int n;
            while ((n = await input.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                size += n;
            }
            output.Flush(flushToDisk: true);
            // The umask may have narrowed the mode at creation; set it exactly (never wider than the source's).
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, created);
            return (size, Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
    }

    public static async Task<(long Size, string Sha256)> HashAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 128 * 1024, FileOptions.SequentialScan);
        var sha = await SHA256.HashDataAsync(stream, cancellationToken);
        return (stream.Length, Convert.ToHexStringLower(sha));
    }

    public static UnixFileMode ModeOf(string path) => OperatingSystem.IsWindows() ? (UnixFileMode)0b110_100_100 : File.GetUnixFileMode(path);

    /// <summary>Creates the directory with the mode given (the dkim/ tree is 0700) and syncs its parent, so the entry survives a crash.</summary>
    public static void CreateDirectory(string path, UnixFileMode mode)
    {
        if (Directory.Exists(path)) return;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(path);
        else
        {
            Directory.CreateDirectory(path, mode);
            File.SetUnixFileMode(path, mode);
        }
    }
}
