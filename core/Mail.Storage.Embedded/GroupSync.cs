namespace Mail.Storage.Embedded;

/// <summary>
/// Group commit for directory fsyncs, on one dedicated thread shared by every embedded store of the process.
/// A caller that created or renamed an entry awaits <see cref="SyncDirectoryAsync"/>; the thread takes every
/// pending request as one batch and fsyncs each distinct directory of it once. A request only ever joins a batch
/// that has not started, so the fsync that acknowledges it began after the caller's rename: 20 concurrent SMTP
/// sessions share a few directory fsyncs instead of doing 20. A dedicated thread rather than the thread pool,
/// because fsync blocks and the pool is what runs the sessions.
/// File data is NOT synced here but by each writer on its own thread: fsyncs of different files issued
/// concurrently are merged by the file system's journal, whereas one thread syncing them in turn measured slower.
/// </summary>
internal sealed class GroupSync
{
    public static readonly GroupSync Shared = new();

    private readonly object _gate = new();
    private List<Request> _pending = [];
    private List<Request> _spare = [];

    private GroupSync()
    {
        new Thread(Run) { IsBackground = true, Name = "directory fsync group commit" }.Start();
    }

    /// <summary>Completes once every entry created or renamed in <paramref name="directory"/> before this call is durable.</summary>
    public Task SyncDirectoryAsync(string directory)
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
            foreach (var r in batch)
            {
                if (outcome.ContainsKey(r.Directory)) continue;
                try
                {
                    DurableFile.SyncDirectory(r.Directory);
                    outcome[r.Directory] = null;
                }
                catch (Exception e)
                {
                    outcome[r.Directory] = e;
                }
            }
            foreach (var r in batch)
            {
                if (outcome[r.Directory] is { } error) r.Done.SetException(error);
                else r.Done.SetResult();
            }
            batch.Clear();
            lock (_gate) _spare = batch;
        }
    }

    private sealed class Request(string directory)
    {
        public string Directory { get; } = directory;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
