namespace Mail.Storage.Embedded;

/// <summary>
/// Group commit for everything the embedded stores write, on one dedicated thread shared by the process.
/// A writer puts its bytes in the page cache (file data, a rename, a journal append) and then awaits
/// <see cref="WhenDurableAsync"/>; the thread takes every pending request as one batch and makes it durable with
/// one <c>syncfs(2)</c> per file system, which writes back all dirty data and metadata (file contents, inodes,
/// directory entries) and flushes the device cache. Twenty SMTP sessions finishing messages at the same moment
/// share one sync instead of doing forty fsyncs (message file, directory, spool entry...) of their own.
/// A request only joins a batch that has not started, so the sync that acknowledges it began after its write.
/// A dedicated thread rather than the thread pool, because the sync blocks and the pool runs the sessions.
/// Where syncfs does not exist (not Linux) writers fsync their own files (<see cref="SyncsFileSystem"/> is false)
/// and the batch only fsyncs directories (a no-op on Windows, whose file system journals renames).
/// </summary>
internal sealed class DurabilityBarrier
{
    public static readonly DurabilityBarrier Shared = new();

    private readonly object _gate = new();
    private List<Request> _pending = [];
    private List<Request> _spare = [];

    private DurabilityBarrier()
    {
        new Thread(Run) { IsBackground = true, Name = "storage group commit" }.Start();
    }

    /// <summary>True where one barrier covers file contents too; false where each writer must fsync its own files.</summary>
    public static bool SyncsFileSystem => OperatingSystem.IsLinux();

    /// <summary>Completes once everything written (data, creations, renames, deletions) under <paramref name="directory"/>
    /// before this call is on stable storage.</summary>
    public Task WhenDurableAsync(string directory)
    {
        var request = new Request(directory);
        lock (_gate)
        {
            _pending.Add(request);
            if (_pending.Count == 1) Monitor.Pulse(_gate);
        }
        return request.Done.Task;
    }

    private void Run()
    {
        var outcome = new Dictionary<string, Exception?>(StringComparer.Ordinal);
        var synced = new Dictionary<ulong, Exception?>();
        while (true)
        {
            List<Request> batch;
            lock (_gate)
            {
                while (_pending.Count == 0) Monitor.Wait(_gate);
                batch = _pending;
                _pending = _spare;
            }
            outcome.Clear();
            synced.Clear();
            foreach (var r in batch)
            {
                if (outcome.ContainsKey(r.Directory)) continue;
                outcome[r.Directory] = Sync(r.Directory, synced);
            }
            // One thread-pool work item resumes the whole batch (the continuations run inline there, one after
            // another): one wake-up per sync instead of one per waiting session, which on a small machine costs
            // more than the sync itself. Never inline on this thread: a continuation may block (SQLite, another sync).
            var done = batch.Select(r => (r.Done, outcome[r.Directory])).ToArray();
            ThreadPool.UnsafeQueueUserWorkItem(static d =>
            {
                foreach (var (tcs, error) in d)
                {
                    if (error is not null) tcs.SetException(error);
                    else tcs.SetResult();
                }
            }, done, preferLocal: false);
            batch.Clear();
            lock (_gate) _spare = batch;
        }
    }

    private static Exception? Sync(string directory, Dictionary<ulong, Exception?> synced)
    {
        ulong? device = null;
        try
        {
            if (!SyncsFileSystem)
            {
                DurableFile.SyncDirectory(directory);
                return null;
            }
            // Directories of one data root usually share a file system: one syncfs covers them all.
            device = DurableFile.DeviceOf(directory);
            if (synced.TryGetValue(device.Value, out var earlier)) return earlier;
            DurableFile.SyncFileSystem(directory);
            synced[device.Value] = null;
            return null;
        }
        catch (Exception e)
        {
            if (device is { } d) synced[d] = e;
            return e;
        }
    }

    private sealed class Request(string directory)
    {
        public string Directory { get; } = directory;
        public TaskCompletionSource Done { get; } = new();
    }
}
