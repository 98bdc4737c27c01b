namespace Mail.Host.Backup;

/// <summary>
/// `mail restore SRC`: a backup made by `mail backup` becomes the data directory ("DataDirectory" or --data), which
/// must be new or empty: a restore never merges into or overwrites a directory a server may be using. The files are
/// copied into a sibling directory, each checked against the manifest's size and SHA-256, synced, and that directory
/// is renamed into place last, so an interrupted restore leaves no half data directory under the name.
/// </summary>
public sealed class DataRestore(string dataDirectory, TextWriter output)
{
    public async Task<int> RunAsync(string backupDirectory, CancellationToken cancellationToken = default)
    {
        var source = Path.GetFullPath(backupDirectory);
        var target = Path.GetFullPath(dataDirectory);
        // The target first: restoring over a live data directory is the mistake to stop before anything else.
        RestoreTarget.RequireEmpty(target, "data directory", "restore");
        var manifest = BackupManifest.Read(source);
        var parent = Path.GetDirectoryName(target.TrimEnd(Path.DirectorySeparatorChar)) ?? throw new BackupException($"'{target}' has no parent directory", "restore");
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, "." + Path.GetFileName(target.TrimEnd(Path.DirectorySeparatorChar)) + ".restoring-" + Guid.NewGuid().ToString("N"));
        try
        {
            FileCopy.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            foreach (var dir in manifest.Directories.OrderBy(d => d.Path.Length))
                FileCopy.CreateDirectory(Path.Combine(staging, Native(dir.Path)), (UnixFileMode)dir.Mode);
            foreach (var file in manifest.Files)
            {
                var to = Path.Combine(staging, Native(file.Path));
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                var copied = await FileCopy.CopyAsync(Path.Combine(source, Native(file.Path)), to, (UnixFileMode)file.Mode, cancellationToken)
                    ?? throw new BackupException($"{Path.Combine(source, Native(file.Path))} is missing: the backup is incomplete", "restore");
                if (copied.Size != file.Size || copied.Sha256 != file.Sha256)
                    throw new BackupException($"{Path.Combine(source, Native(file.Path))} does not match the manifest (size or SHA-256): the backup is damaged", "restore");
            }
            foreach (var dir in manifest.Directories.OrderByDescending(d => d.Path.Length))
                Mail.Storage.Embedded.DurableFile.SyncDirectory(Path.Combine(staging, Native(dir.Path)));
            Mail.Storage.Embedded.DurableFile.SyncDirectory(staging);
            // Checked again at the last moment: something may have created the directory meanwhile.
            RestoreTarget.RequireEmpty(target, "data directory", "restore");
            if (Directory.Exists(target)) Directory.Delete(target);
            Directory.Move(staging, target);
            Mail.Storage.Embedded.DurableFile.SyncDirectory(parent);
        }
        catch
        {
            try
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
            catch (IOException)
            {
            }
            throw;
        }
        output.WriteLine($"restored {manifest.Files.Count} files from {source} (backup of {manifest.Source}, {manifest.Created:u}) into {target}");
        return 0;
    }

    private static string Native(string relative) => relative.Replace('/', Path.DirectorySeparatorChar);
}

/// <summary>Where a backup or a restore writes: a directory that does not exist yet or is empty, nothing else.</summary>
internal static class RestoreTarget
{
    public static void RequireEmpty(string path, string what, string command = "backup")
    {
        if (File.Exists(path)) throw new BackupException($"{what} '{path}' is a file: name a new or empty directory", command);
        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
            throw new BackupException($"{what} '{path}' is not empty: name a new or empty directory (nothing was changed)", command);
    }
}
