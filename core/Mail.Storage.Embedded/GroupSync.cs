namespace Mail.Storage.Embedded;

/// <summary>
/// Group commit for fsyncs, on one dedicated thread shared by every embedded store of the process.
/// Callers hand over a written (not yet synced) file and/or a directory whose entries must be durable,
/// and await. The thread takes everything pending as one batch: it fsyncs the batch's files first, then
/// each distinct directory once, then completes the batch. On a journaling file system the first fsync
/// commits the journal transaction that holds every other file of the batch, so the rest cost little:
/// N concurrent SMTP sessions pay for about one journal commit per batch instead of several each.
/// Why a dedicated thread: fsync blocks; doing it on thread-pool threads (20 sessions = 20 blocked threads)
/// starves the pool that runs the sessions themselves.
/// Correctness: a request is only added to a batch that has not started, so every fsync that acknowledges
/// it started after the caller's writes (and renames) were done; files are synced before directories in
/// the same batch, so a directory entry never becomes durable for data that is not.
/// </summary>
internal sealed class GroupSync
{
    public static readonly GroupSync Shared = new();

    private readonly object _gate = new();
    private List<Request> _pending = [];
    private List<Request> _spare = [];
    private readonly Thread _thread;

    private GroupSync()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "fsync group commit" };
        _thread.Start();
    }

    /// <summary>Completes once <paramref name="file"/>'s data (if given) and then <paramref name="directory"/>'s
    /// entries (if given) are on stable storage. The caller must not touch <paramref name="file"/> until then.</summary>
    public Task SyncAsync(FileStream? file, string? directory)
    {
        var request = new Request(file, directory);
        lock (_gate)
        {
            _pending.Add(request);
            if (_pending.Count == 1) Monitor.Pulse(_gate);
        }
        return request.Done.Task;
    }

    private void Run()
    {
        var dirs = new Dictionary<string, Exception?>(StringComparer.Ordinal);
        while (true)
        {
            List<Request> batch;
            lock (_gate)
            {
                while (_pending.Count == 0) Monitor.Wait(_gate);
                batch = _pending;
                _pending = _spare;
            }
            // Start writeback of every file of the batch before waiting on any: with delayed allocation, the
            // blocks of all of them are then allocated in the same journal transaction, which the first fsync
            // commits; the following fsyncs find their data written and their transaction committed. Synced one
            // after the other without this, each file would cost its own journal commit.
            foreach (var r in batch)
            {
                if (r.File is not null) DurableFile.StartWriteback(r.File);
            }
            foreach (var r in batch)
            {
                if (r.File is null) continue;
                try
                {
                    r.File.Flush(flushToDisk: true);
                }
                catch (Exception e)
                {
                    r.Error = e;
                }
            }
            dirs.Clear();
            foreach (var r in batch)
            {
                // A directory is synced only for requests whose file made it: never publish what is not durable.
                if (r.Directory is null || r.Error is not null || dirs.ContainsKey(r.Directory)) continue;
                try
                {
                    DurableFile.SyncDirectory(r.Directory);
                    dirs[r.Directory] = null;
                }
                catch (Exception e)
                {
                    dirs[r.Directory] = e;
                }
            }
            foreach (var r in batch)
            {
                var error = r.Error ?? (r.Directory is null ? null : dirs.GetValueOrDefault(r.Directory));
                if (error is null) r.Done.SetResult();
                else r.Done.SetException(error);
            }
            batch.Clear();
            lock (_gate) _spare = batch;
        }
    }

    private sealed class Request(FileStream? file, string? directory)
    {
        public FileStream? File { get; } = file;
        public string? Directory { get; } = directory;
        public Exception? Error { get; set; }
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
