using Microsoft.Data.Sqlite;

namespace Mail.Host.Backup;

/// <summary>
/// `mail backup DEST`: a copy of the embedded data directory that `mail restore` turns back into a working one,
/// taken while `mail serve` runs. Nothing stops; the copy is consistent because it follows the flow backwards:
/// <list type="number">
/// <item>the spool journals (<c>queue/inbound</c>, <c>queue/outbound</c>): the envelopes not yet settled;</item>
/// <item>the edge's originals (<c>queue/messages</c> segments): every envelope copied in 1 had its original committed
/// before it was queued, so it is in these (or was delivered and marked dead, and then step 3 has the delivery);</item>
/// <item>the delivered copies (<c>messages/</c>), a first pass;</item>
/// <item>the SQLite database with SQLite's online backup API: one read transaction, a snapshot of users, domains,
/// state and mailbox indexes;</item>
/// <item>the delivered copies again, for those written between 3 and 4 (a copy is written before its index row),
/// the delivered copies' segments (<c>mailbox-messages/</c>), copied only now: a segment grows by appends, and a copy
/// is committed before its index row, so the segments copied after the snapshot hold every copy it references;
/// then everything else (DKIM keys 0600, the TLS certificate, settings kept in the data directory).</item>
/// </list>
/// A message accepted during the backup may be in it or not; one accepted before it is there, pending or delivered,
/// and delivery being idempotent a message found both ways is delivered once. Journals and segments are append-only
/// and read as a prefix, which their loaders accept as they accept a crash's. Segments compacted meanwhile are
/// picked up by listing again until nothing new appears. Caches (<c>imap-cache/</c>), lock and temporary files
/// (names starting with '.') are not copied. The manifest is written last.
/// </summary>
public sealed class DataBackup(string dataDirectory, TextWriter output)
{
    /// <summary>The SQLite databases of the data directory (the IMAP FETCH cache under imap-cache/ is not one to keep).</summary>
    private static readonly string[] Databases = ["mail.db"];

    private static readonly string[] Skipped = ["imap-cache"];

    private readonly string _source = Path.GetFullPath(dataDirectory);
    private readonly Dictionary<string, BackupFile> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BackupDirectory> _directories = new(StringComparer.Ordinal);
    private string _target = "";

    public async Task<int> RunAsync(string destination, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Path.Combine(_source, "mail.db")))
            throw new BackupException($"'{_source}' holds no mail.db: not a data directory of `mail` (check DataDirectory or --data)");
        _target = Path.GetFullPath(destination);
        if (IsInside(_target, _source) || IsInside(_source, _target))
            throw new BackupException($"backup directory '{_target}' is inside the data directory '{_source}' or holds it: choose another place");
        RestoreTarget.RequireEmpty(_target, "backup directory");
        FileCopy.CreateDirectory(_target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        await CopyTreeUntilStableAsync(Path.Combine("queue", "inbound"), cancellationToken);
        await CopyTreeUntilStableAsync(Path.Combine("queue", "outbound"), cancellationToken);
        await CopyTreeUntilStableAsync(Path.Combine("queue", "messages"), cancellationToken);
        await CopyTreeAsync("messages", cancellationToken);
        foreach (var db in Databases) await BackupDatabaseAsync(db, cancellationToken);
        await CopyTreeUntilStableAsync("mailbox-messages", cancellationToken);
        await CopyTreeAsync("", cancellationToken);

        var manifest = new BackupManifest
        {
            Format = BackupManifest.CurrentFormat,
            Created = DateTimeOffset.UtcNow,
            Source = _source,
            Files = [.. _files.Values.OrderBy(f => f.Path, StringComparer.Ordinal)],
            Directories = [.. _directories.Values.OrderBy(d => d.Path, StringComparer.Ordinal)],
        };
        SyncDirectories();
        await WriteManifestAsync(manifest, cancellationToken);
        output.WriteLine($"backup of {_source} written to {_target}: {manifest.Files.Count} files, {manifest.Files.Sum(f => f.Size)} bytes (format {manifest.Format})");
        return 0;
    }

    private async Task WriteManifestAsync(BackupManifest manifest, CancellationToken cancellationToken)
    {
        var path = Path.Combine(_target, BackupManifest.FileName);
        var temporary = path + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
        {
            await stream.WriteAsync(manifest.ToJson(), cancellationToken);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path);
        Mail.Storage.Embedded.DurableFile.SyncDirectory(_target);
    }

    /// <summary>A spool or segment directory: copied, then listed again until a pass finds no file it had not seen
    /// (compaction writes a new segment before it deletes the old ones, so the live records are in one or the other).</summary>
    private async Task CopyTreeUntilStableAsync(string relative, CancellationToken cancellationToken)
    {
        for (var pass = 0; pass < 20; pass++)
            if (await CopyTreeAsync(relative, cancellationToken) == 0) return;
        throw new BackupException($"'{Path.Combine(_source, relative)}' kept changing over 20 passes; try again when the server is less busy");
    }

    /// <summary>Copies the files under <paramref name="relative"/> not copied yet; returns how many it copied.</summary>
    private async Task<int> CopyTreeAsync(string relative, CancellationToken cancellationToken)
    {
        var root = Path.Combine(_source, relative);
        if (!Directory.Exists(root)) return 0;
        var copied = 0;
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.TryPop(out var dir))
        {
            var dirRelative = Relative(dir);
            if (dirRelative.Length > 0)
            {
                if (!_directories.ContainsKey(dirRelative))
                {
                    var mode = FileCopy.ModeOf(dir);
                    FileCopy.CreateDirectory(Path.Combine(_target, dirRelative), mode);
                    _directories[dirRelative] = new BackupDirectory(dirRelative, (int)mode);
                }
            }
            IEnumerable<string> entries;
            try
            {
                entries = Directory.EnumerateFileSystemEntries(dir).ToList();
            }
            catch (DirectoryNotFoundException)
            {
                continue;
            }
            foreach (var entry in entries)
            {
                var name = Path.GetFileName(entry);
                var entryRelative = Relative(entry);
                if (name.StartsWith('.') || (dirRelative.Length == 0 && (Skipped.Contains(name) || Databases.Any(d => name.StartsWith(d, StringComparison.Ordinal)) || name == BackupManifest.FileName)))
                    continue;
                if (Directory.Exists(entry))
                {
                    if (new FileInfo(entry).LinkTarget is null) pending.Push(entry);
                    continue;
                }
                if (_files.ContainsKey(entryRelative)) continue;
                var fileMode = FileCopy.ModeOf(entry);
                var result = await FileCopy.CopyAsync(entry, Path.Combine(_target, entryRelative), fileMode, cancellationToken);
                if (result is not { } r) continue; // gone meanwhile: a compacted segment, an expunged message
                _files[entryRelative] = new BackupFile(entryRelative, r.Size, r.Sha256, (int)fileMode);
                copied++;
            }
        }
        return copied;
    }

    /// <summary>SQLite's online backup: the pages of one read transaction (WAL mode: the server keeps writing meanwhile).</summary>
    private async Task BackupDatabaseAsync(string name, CancellationToken cancellationToken)
    {
        var source = Path.Combine(_source, name);
        if (!File.Exists(source)) return;
        var target = Path.Combine(_target, name);
        var mode = FileCopy.ModeOf(source);
        await Task.Run(() =>
        {
            using (var from = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 30 }.ToString()))
            using (var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = target, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString()))
            {
                from.Open();
                to.Open();
                from.BackupDatabase(to);
                // One file, no -wal beside it: a backup is read whole by restore.
                using var command = to.CreateCommand();
                command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
                command.ExecuteNonQuery();
            }
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, mode);
        }, cancellationToken);
        foreach (var leftover in new[] { "-wal", "-shm" }) File.Delete(target + leftover);
        // Hashed as restore will check it. SQLite synced it at each commit of the backup (synchronous=FULL by default).
        var result = await FileCopy.HashAsync(target, cancellationToken);
        _files[name] = new BackupFile(name, result.Size, result.Sha256, (int)mode);
    }

    private void SyncDirectories()
    {
        foreach (var dir in _directories.Keys.OrderByDescending(d => d.Length))
            Mail.Storage.Embedded.DurableFile.SyncDirectory(Path.Combine(_target, dir));
        Mail.Storage.Embedded.DurableFile.SyncDirectory(_target);
    }

    private string Relative(string path) => Path.GetRelativePath(_source, path) is var r && r == "." ? "" : r.Replace(Path.DirectorySeparatorChar, '/');

    private static bool IsInside(string path, string directory) =>
        path.StartsWith(directory.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal) || path == directory;
}
