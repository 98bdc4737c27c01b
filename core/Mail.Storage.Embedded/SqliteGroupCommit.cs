using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Mail.Storage.Embedded;

/// <summary>
/// Group commit of the writes to one SQLite file, shared by every store of the process on that file
/// (<see cref="SqliteMailboxStore"/> and <see cref="SqliteStateStore"/> share <c>mail.db</c>): concurrent writes queue
/// up, and whoever finds no batch running becomes the leader and executes everything queued in ONE transaction (one WAL
/// fsync with synchronous=FULL), each write inside its own SAVEPOINT so a failing one (MailboxNotFound, ...) is rolled
/// back alone. The result is the same as running them one after another; the disk sees one commit per batch. One queue
/// per file rather than per store: a delivery's mailbox append and its trace entry (`mail trace`) of the worker's
/// eight parallel deliveries then share one commit, where each store's own commit took SQLite's write lock and synced
/// the WAL in turn.
/// <para>Where the process's <see cref="DurabilityBarrier"/> can sync the write-ahead log (Linux), a batch commits with
/// synchronous=NORMAL (no fsync of its own) and its writers resume once the barrier's next batch has made the log
/// durable: the commit shares one device flush with the SMTP edge's appends and the mailbox copies instead of adding a
/// separate fsync (whose journal commit on ext4 the edge's syncs queued behind). Nothing is acknowledged earlier than
/// with synchronous=FULL; readers may see a batch for the length of that sync before it is durable, as when a
/// machine crash loses the last commits of a NORMAL database (the writers were never told it was done).</para>
/// </summary>
internal sealed class SqliteGroupCommit
{
    private static readonly ConcurrentDictionary<string, SqliteGroupCommit> s_byFile = new(StringComparer.Ordinal);

    private const int MaxBatch = 256;
    private readonly SqliteDatabase _db;
    private readonly Lock _gate = new();
    private readonly List<PendingWrite> _pending = [];
    private bool _leading;

    private readonly SqliteWriteAheadLog _log;

    private SqliteGroupCommit(string fullPath, SqliteDatabase db) => (_db, _log) = (db, new SqliteWriteAheadLog(fullPath));

    /// <summary>The group commit of the file <paramref name="db"/> opens (the first store to ask makes it).</summary>
    public static SqliteGroupCommit For(string fullPath, SqliteDatabase db) => s_byFile.GetOrAdd(fullPath, static (p, d) => new SqliteGroupCommit(p, d), db);

    public Task<T> Write<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var op = new PendingWrite<T>(work);
        lock (_gate)
        {
            _pending.Add(op);
            if (_leading) return op.Task;
            _leading = true;
        }
        return LeadAsync(op);
    }

    private async Task<T> LeadAsync<T>(PendingWrite<T> own)
    {
        // Let the writers that are ready to run queue first: a leader that took its batch at once ran alone, and
        // under load the others, released together by the previous commit, each led a batch of one in turn.
        await Task.Yield();
        await DrainAsync(own);
        return await own.Task;
    }

    /// <summary>Runs batches until the queue is empty, or, once <paramref name="own"/> is done, hands the rest to a
    /// background leader so the caller is not kept serving others under sustained load.</summary>
    private async Task DrainAsync(PendingWrite? own)
    {
        while (true)
        {
            List<PendingWrite> batch;
            lock (_gate)
            {
                if (_pending.Count == 0)
                {
                    _leading = false;
                    return;
                }
                if (own is not null && own.Done)
                {
                    _ = Task.Run(() => DrainAsync(null));
                    return;
                }
                batch = _pending.Count <= MaxBatch ? [.. _pending] : _pending.GetRange(0, MaxBatch);
                _pending.RemoveRange(0, batch.Count);
            }
            await RunBatchAsync(batch);
        }
    }

    private async Task RunBatchAsync(List<PendingWrite> batch)
    {
        var durable = Task.CompletedTask;
        try
        {
            await using var lease = await _db.OpenAsync(CancellationToken.None);
            var c = lease.Connection;
            // Null: no log the barrier can sync (the first write, not Linux), and the commit fsyncs it (FULL).
            var log = _log.Current();
            if (log is not null) SqliteDatabase.Exec(c, "PRAGMA synchronous=NORMAL");
            try
            {
                using var tx = c.BeginTransaction(deferred: false); // BEGIN IMMEDIATE
                foreach (var op in batch)
                {
                    SqliteDatabase.Exec(c, "SAVEPOINT w", tx);
                    try
                    {
                        op.Run(c, tx);
                        SqliteDatabase.Exec(c, "RELEASE w", tx);
                    }
                    catch (Exception e)
                    {
                        op.Error = e;
                        SqliteDatabase.Exec(c, "ROLLBACK TO w; RELEASE w", tx);
                    }
                }
                tx.Commit();
            }
            finally
            {
                // The connection goes back to the pool, whose other users commit alone: they sync their own.
                if (log is not null) SqliteDatabase.Exec(c, "PRAGMA synchronous=FULL");
            }
            if (log is not null)
            {
                DurabilityBarrier.Shared.EnlistLog(log);
                durable = DurabilityBarrier.Shared.WhenDurableDeferrableAsync();
            }
        }
        catch (Exception e)
        {
            // Nothing of this batch is committed: every write in it fails (the callers retry or report).
            foreach (var op in batch) op.Fail(e);
        }
        foreach (var op in batch) op.Done = true;
        Resume(batch, durable);
    }

    /// <summary>
    /// Once the batch is durable, one thread-pool work item resumes its writers (their continuations run inline there,
    /// one after another): one wake-up per commit instead of one per writer. Never inline on the leader: it may have
    /// the next batch to run. When the barrier syncs the log, that item is the barrier's own resumption.
    /// </summary>
    private static void Resume(List<PendingWrite> batch, Task durable)
    {
        if (durable.IsCompleted)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static b =>
            {
                foreach (var op in b) op.Resume();
            }, batch, preferLocal: false);
            return;
        }
        durable.ContinueWith(static (t, state) =>
        {
            // Committed, but not known to be on disk: reported as failed, as a failed fsync of the commit was.
            var error = t.Exception?.InnerException;
            foreach (var op in (List<PendingWrite>)state!)
            {
                if (error is not null && op.Error is null) op.Fail(error);
                op.Resume();
            }
        }, batch, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private abstract class PendingWrite
    {
        /// <summary>Its own failure, or the whole batch's.</summary>
        public Exception? Error { get; set; }

        /// <summary>Committed or failed (set by the leader before the writer is resumed).</summary>
        public bool Done { get; set; }

        public abstract void Run(SqliteConnection c, SqliteTransaction tx);

        public void Fail(Exception e) => Error = e;

        /// <summary>Completes the writer's task; its continuation runs on the calling thread (see <see cref="Resume(List{PendingWrite})"/>).</summary>
        public abstract void Resume();
    }

    private sealed class PendingWrite<T>(Func<SqliteConnection, SqliteTransaction, T> work) : PendingWrite
    {
        private readonly TaskCompletionSource<T> _done = new();
        private T _result = default!;

        public Task<T> Task => _done.Task;

        public override void Run(SqliteConnection c, SqliteTransaction tx) => _result = work(c, tx);

        public override void Resume()
        {
            if (Error is not null) _done.TrySetException(Error);
            else _done.TrySetResult(_result);
        }
    }
}
