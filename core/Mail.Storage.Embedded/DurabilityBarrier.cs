using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Mail.Storage.Embedded;

/// <summary>
/// Group commit for everything the embedded stores write, on one dedicated thread shared by the process.
/// A writer puts its bytes in the page cache and then awaits <see cref="WhenDurableAsync()"/>; the thread takes every
/// pending request as one batch and makes it durable at once. Twenty SMTP sessions finishing messages at the same
/// moment share one sync instead of doing forty fsyncs of their own. A request only joins a batch that has not
/// started, so the sync that acknowledges it began after its write.
/// <para>What a batch syncs:</para>
/// <list type="bullet">
/// <item>The <see cref="AppendFile"/>s appended to since the last batch (they enlist themselves). Where an overwrite
/// needs no metadata (<see cref="AppendFile.OverwritesInPlace"/>), their pages are written back together
/// (<c>sync_file_range</c>) and one <c>fdatasync</c> of the last flushes the device cache for all of them. That is
/// cheaper than a <c>syncfs</c>, which hands its writeback to a kernel flusher thread and waits for it twice, and
/// writes back every dirty page of the file system rather than these files'. A file created or grown since its last sync is fsynced instead (with its directory, once); on other file
/// systems and other systems each file is.</item>
/// <item>Logs written by someone else (a SQLite database's write-ahead log, <see cref="EnlistLog"/>): their pages are
/// written back with the rest and each is <c>fdatasync</c>ed last, which covers their size when they grew and flushes the
/// device cache for the whole batch. A SQLite commit then costs no sync of its own: it shares the batch of the SMTP
/// edge's appends and the mailbox copies.</item>
/// <item>A deferrable request (the worker's mailbox copies and SQLite commits: nobody waits on the wire for them)
/// that finds no other waiting, while the SMTP edge is sending (a request that is not deferrable came within
/// <see cref="SenderActive"/>), waits up to <see cref="DeferWindow"/> for the edge's next request and shares its sync.
/// At one session the edge and the worker otherwise take turns on the device, one flush each, and every 250 waits
/// for the worker's flush before its own (bench/README.md, "Pipeline throughput").</item>
/// <item>For <see cref="WhenDurableAsync(string)"/>: the whole file system under a directory, with one <c>syncfs(2)</c>,
/// which writes back all dirty data and metadata (file contents, inodes, directory entries) and flushes the device
/// cache: for stores that create, rename and delete files (mailbox messages, dead letters). Where syncfs does not
/// exist (not Linux) writers fsync their own files (<see cref="SyncsFileSystem"/> is false) and the batch only fsyncs
/// the directories (a no-op on Windows, whose file system journals renames).</item>
/// </list>
/// Two dedicated threads rather than the thread pool, because the syncs block and the pool runs the sessions: one for
/// the append files, one for the file system syncs. A syncfs writes back everything dirty (the worker's mailbox copies,
/// SQLite's pages); sharing a thread with them would make the edge's next batch of 250s wait behind the worker's two
/// syncs per delivery (bench/README.md, "Pipeline throughput").
/// </summary>
internal sealed class DurabilityBarrier
{
    public static readonly DurabilityBarrier Shared = new();

    private readonly object _gate = new();
    private List<Request> _pending = [];
    private List<Request> _spare = [];
    private readonly object _directoryGate = new();
    private List<Request> _pendingDirectories = [];
    private List<Request> _spareDirectories = [];
    private HashSet<AppendFile> _enlisted = [];
    private HashSet<AppendFile> _spareFiles = [];
    private HashSet<SafeFileHandle> _enlistedLogs = [];
    private HashSet<SafeFileHandle> _spareLogs = [];
    /// <summary>Requests in <see cref="_pending"/> that are not deferrable.</summary>
    private int _urgentPending;
    private long _lastUrgent;

    /// <summary>How long deferrable requests alone wait for a request that is not (see the class remarks).</summary>
    public static readonly TimeSpan DeferWindow = TimeSpan.FromMilliseconds(1);

    /// <summary>How recent the last request that is not deferrable must be for deferrable ones to wait for the next.</summary>
    public static readonly TimeSpan SenderActive = TimeSpan.FromMilliseconds(10);

    private DurabilityBarrier()
    {
        new Thread(Run) { IsBackground = true, Name = "storage group commit" }.Start();
        new Thread(RunDirectories) { IsBackground = true, Name = "storage file system sync" }.Start();
    }

    /// <summary>True where one barrier covers file contents too; false where each writer must fsync its own files.</summary>
    public static bool SyncsFileSystem => OperatingSystem.IsLinux();

    /// <summary>The next batch makes what was appended to <paramref name="file"/> durable. Its handle stays open until
    /// then, even if its owner closes it meanwhile.</summary>
    public void Enlist(AppendFile file)
    {
        lock (_gate)
        {
            if (_enlisted.Contains(file)) return;
            // Throws on a closed handle, and then nothing is enlisted: the release after the sync stays matched.
            var added = false;
            file.Handle.DangerousAddRef(ref added);
            _enlisted.Add(file);
        }
    }

    /// <summary>The next batch makes what was written to <paramref name="log"/> before this call durable (Linux only: the
    /// batch ends with its <c>fdatasync</c>). Its handle stays open until then.</summary>
    public void EnlistLog(SafeFileHandle log)
    {
        lock (_gate)
        {
            if (_enlistedLogs.Contains(log)) return;
            var added = false;
            log.DangerousAddRef(ref added);
            _enlistedLogs.Add(log);
        }
    }

    /// <summary>Completes once everything appended to any <see cref="AppendFile"/> before this call is on stable storage.</summary>
    public Task WhenDurableAsync() => Enqueue(new Request(null));

    /// <summary>As <see cref="WhenDurableAsync()"/>, for a writer nobody waits for on the wire: the sync may wait up to
    /// <see cref="DeferWindow"/> for a request that is not deferrable to share it (see the class remarks).</summary>
    public Task WhenDurableDeferrableAsync() => Enqueue(new Request(null) { Deferrable = true });

    /// <summary>Completes once everything written (data, creations, renames, deletions) under <paramref name="directory"/>
    /// before this call is on stable storage.</summary>
    public Task WhenDurableAsync(string directory) => Enqueue(new Request(directory));

    private Task Enqueue(Request request)
    {
        if (request.Directory is null)
        {
            lock (_gate)
            {
                _pending.Add(request);
                if (!request.Deferrable)
                {
                    _urgentPending++;
                    _lastUrgent = Stopwatch.GetTimestamp();
                }
                if (_pending.Count == 1 || _urgentPending == 1) Monitor.Pulse(_gate);
            }
        }
        else
        {
            lock (_directoryGate)
            {
                _pendingDirectories.Add(request);
                if (_pendingDirectories.Count == 1) Monitor.Pulse(_directoryGate);
            }
        }
        return request.Done.Task;
    }

    /// <summary>The append files' batches: what the SMTP edge's 250s wait for.</summary>
    private void Run()
    {
        while (true)
        {
            List<Request> batch;
            HashSet<AppendFile> files;
            HashSet<SafeFileHandle> logs;
            lock (_gate)
            {
                while (_pending.Count == 0) Monitor.Wait(_gate);
                if (_urgentPending == 0 && Stopwatch.GetElapsedTime(_lastUrgent) < SenderActive)
                {
                    var since = Stopwatch.GetTimestamp();
                    while (_urgentPending == 0 && Stopwatch.GetElapsedTime(since) is var waited && waited < DeferWindow)
                        Monitor.Wait(_gate, DeferWindow - waited);
                }
                _urgentPending = 0;
                batch = _pending;
                _pending = _spare;
                files = _enlisted;
                _enlisted = _spareFiles;
                logs = _enlistedLogs;
                _enlistedLogs = _spareLogs;
            }
            var error = Sync(files, logs);
            Resume(batch.Select(r => (r.Done, error)).ToArray());
            batch.Clear();
            files.Clear();
            logs.Clear();
            lock (_gate) (_spare, _spareFiles, _spareLogs) = (batch, files, logs);
        }
    }

    /// <summary>The file system syncs (<see cref="WhenDurableAsync(string)"/>), one per device per batch.</summary>
    private void RunDirectories()
    {
        var outcome = new Dictionary<string, Exception?>(StringComparer.Ordinal);
        var synced = new Dictionary<ulong, Exception?>();
        while (true)
        {
            List<Request> batch;
            lock (_directoryGate)
            {
                while (_pendingDirectories.Count == 0) Monitor.Wait(_directoryGate);
                batch = _pendingDirectories;
                _pendingDirectories = _spareDirectories;
            }
            outcome.Clear();
            synced.Clear();
            foreach (var r in batch)
            {
                if (outcome.ContainsKey(r.Directory!)) continue;
                outcome[r.Directory!] = Sync(r.Directory!, synced);
            }
            Resume(batch.Select(r => (r.Done, outcome[r.Directory!])).ToArray());
            batch.Clear();
            lock (_directoryGate) _spareDirectories = batch;
        }
    }

    /// <summary>
    /// One thread-pool work item resumes the waiters (their continuations run inline there, one after another): one
    /// wake-up per sync instead of one per waiting session, which on a small machine costs more than the sync itself.
    /// Never inline on this thread: a continuation may block (SQLite, another sync).
    /// </summary>
    private static void Resume((TaskCompletionSource Done, Exception? Error)[] waiters)
    {
        if (waiters.Length == 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static d =>
        {
            foreach (var (done, error) in d)
            {
                if (error is not null) done.SetException(error);
                else done.SetResult();
            }
        }, waiters, preferLocal: false);
    }

    /// <summary>The enlisted files' appends and logs to stable storage (see the class remarks); releases their handles.</summary>
    private static Exception? Sync(HashSet<AppendFile> files, HashSet<SafeFileHandle> logs)
    {
        if (files.Count == 0 && logs.Count == 0) return null;
        try
        {
            if (!OperatingSystem.IsLinux())
            {
                foreach (var f in files) SyncMetadata(f);
                foreach (var l in logs) RandomAccess.FlushToDisk(l);
                return null;
            }
            AppendFile? last = null;
            foreach (var f in files)
            {
                if (Overwrites(f)) DurableFile.StartWriteback(f.Handle);
            }
            foreach (var l in logs) DurableFile.StartWriteback(l);
            foreach (var f in files)
            {
                if (last is not null) SyncAlone(last);
                last = f;
            }
            if (logs.Count > 0)
            {
                if (last is not null) SyncAlone(last);
                // Last: an fdatasync also writes the size of a log that grew, and its flush covers every page above.
                foreach (var l in logs) DurableFile.DataSync(l);
            }
            // After every other file's pages reached the device: its flush covers them all.
            else if (Overwrites(last!)) DurableFile.DataSync(last!.Handle);
            else SyncMetadata(last!);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
        finally
        {
            foreach (var f in files) f.Handle.DangerousRelease();
            foreach (var l in logs) l.DangerousRelease();
        }

        static bool Overwrites(AppendFile f) => f.OverwritesInPlace && !f.MetadataPending;

        static void SyncAlone(AppendFile f)
        {
            if (Overwrites(f)) DurableFile.WaitWriteback(f.Handle);
            else SyncMetadata(f);
        }

        static void SyncMetadata(AppendFile f)
        {
            var growth = f.Growth;
            RandomAccess.FlushToDisk(f.Handle);
            try
            {
                if (f.DirectoryPending) DurableFile.SyncDirectory(f.Directory);
            }
            catch (DirectoryNotFoundException)
            {
                // Removed with its directory (a data root deleted): nothing of it left to make durable.
            }
            f.MetadataSynced(growth);
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

    private sealed class Request(string? directory)
    {
        /// <summary>Null: the enlisted append files only.</summary>
        public string? Directory { get; } = directory;
        public TaskCompletionSource Done { get; } = new();

        /// <summary>May wait a moment for a request that is not deferrable (append files only).</summary>
        public bool Deferrable { get; init; }
    }
}
