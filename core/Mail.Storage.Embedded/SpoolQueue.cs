using System.Runtime.CompilerServices;
using System.Text.Json;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// A durable queue as a spool directory (<c>directory/name/</c>) holding an append-only journal:
/// <list type="bullet">
/// <item><c>NNNNNNNNNNNN.journal</c>: segments of records (<see cref="SpoolJournal"/>). <see cref="SendAsync"/>
/// appends an envelope record and returns once the shared <see cref="DurabilityBarrier"/> has made it durable, so one
/// sync covers every session queueing at that moment, and a message costs no file creation or deletion in the spool.
/// Receive, abandon and complete append small state and settlement records WITHOUT a sync: they are advisory.
/// If a machine crash loses one, the envelope is simply retried sooner, with a lower count, or again
/// (at-least-once; consumers are idempotent). A process crash (SIGKILL) loses nothing, the page cache survives it.</item>
/// <item><c>dead/ID.json</c>: dead-lettered envelopes with the reason, one file each (rare, and read by operators).</item>
/// </list>
/// Each instance appends to a segment of its own, created on its first write, so a second instance (the `mail` CLI
/// inspecting a running server) never interleaves with the server's records. Replaying the segments in order
/// gives the queue. When the segment being written grows past <see cref="DefaultSegmentSize"/> (or twice the live envelopes),
/// the writer starts a new one, copies the envelopes still live in older segments into it, syncs, and deletes the
/// older segments it knows: the journal stays about as big as the queue.
/// Leases live in memory: a restart forgets them, so everything that was in flight becomes receivable again.
/// One server instance per spool directory; ListAsync replays the disk, so another process sees the live state.
/// In memory the envelopes are indexed by when they are due (waiting: visible-at; leased: lock expiry), so a receive
/// costs O(log n) whatever the backlog, and an idle worker (<see cref="WaitForDueAsync"/>) is woken by the send that
/// makes an envelope due instead of polling.
/// </summary>
public sealed class SpoolQueue : IMessageQueue, Mail.Core.Queues.IIncomingBacklog
{
    /// <summary>The group commit <see cref="SendAsync"/> waits for before it returns. It covers every embedded store's
    /// appends made before it, so a store may defer its own commit to the enqueue that follows it
    /// (<see cref="SegmentMessageStore"/>'s <c>deferCommitTo</c>).</summary>
    public static GroupCommit EnqueueCommit => GroupCommit.Process;

    /// <summary>Bytes after which the writer starts a new segment and compacts the older ones.</summary>
    public const long DefaultSegmentSize = 8 * 1024 * 1024;

    private readonly long _segmentSize;
    private readonly Func<Envelope, bool>? _keep;
    private readonly HashSet<string> _dropped = new(StringComparer.Ordinal);

    private readonly string _dir;
    private readonly string _deadDir;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    // Every live entry except those whose send is not yet durable is in exactly one of the two: not leased
    // (LockedUntil null) by visible-at, leased by lock expiry; journal order breaks ties (FIFO).
    private readonly SortedSet<Entry> _waiting = new(Comparer<Entry>.Create((x, y) => x.VisibleAt != y.VisibleAt ? x.VisibleAt.CompareTo(y.VisibleAt) : x.Order.CompareTo(y.Order)));
    private readonly SortedSet<Entry> _leased = new(Comparer<Entry>.Create((x, y) => x.LockedUntil != y.LockedUntil ? Nullable.Compare(x.LockedUntil, y.LockedUntil) : x.Order.CompareTo(y.Order)));
    /// <summary>Workers in <see cref="WaitForDueAsync"/>, first come first woken.</summary>
    private readonly LinkedList<TaskCompletionSource> _idle = new();
    private readonly HashSet<long> _knownSegments = [];
    private SpoolJournal.Writer? _writer;
    private long _liveBytes;
    private long _generation;
    private long _order; // journal order: FIFO among envelopes visible at the same time
    private int _incoming; // waiting entries never received (DeliveryCount 0): IIncomingBacklog.Incoming

    /// <param name="keep">Asked once per envelope found on disk at load; false drops it. The embedded inbound spool
    /// drops envelopes whose message is not in the message store: with the edge's single group commit, a machine crash
    /// can keep an envelope whose message never reached the disk, and such an envelope was never acknowledged.</param>
    public SpoolQueue(string directory, string name, TimeProvider? time = null, long segmentSize = DefaultSegmentSize, Func<Envelope, bool>? keep = null)
    {
        _keep = keep;
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        _segmentSize = segmentSize;
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        if (!FileMessageStore.IsValidId(name)) throw new ArgumentException($"Invalid queue name '{name}'", nameof(name));
        Name = name;
        _time = time ?? TimeProvider.System;
        _dir = Path.Combine(Path.GetFullPath(directory), name);
        _deadDir = Path.Combine(_dir, "dead");
        Directory.CreateDirectory(_deadDir);
        Load();
    }

    public string Name { get; }

    /// <summary>Envelopes found at load that the <c>keep</c> check refused (see the constructor).</summary>
    public int DroppedAtLoad => _dropped.Count;

    /// <summary>Envelopes known to this instance that are not settled (ready, scheduled or in flight).</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    /// <summary>Envelopes queued (durably) that no worker has received yet; not those in flight or waiting for a
    /// retry. Read without the lock: the in-flow control's cheap look at the backlog (<see cref="Mail.Core.Queues.InFlowControl"/>).</summary>
    public int Incoming => Volatile.Read(ref _incoming);

    /// <summary>Raised after a receive took envelopes that had never been received, with their number (outside the lock).</summary>
    public event Action<int>? Taken;

    public async Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var id = Guid.CreateVersion7().ToString("N");
        var now = _time.GetUtcNow();
        var visibleAt = notBefore is { } nb && nb > now ? nb : now;
        var record = SpoolJournal.Encode(new SpoolRecord { Kind = SpoolRecord.Enqueued, Id = id, Envelope = envelope, VisibleAt = visibleAt });
        Entry entry;
        lock (_gate)
        {
            var segment = Append(record);
            // Not receivable (not indexed) until durable: no worker acts on an envelope the sender may yet be refused.
            _entries[id] = entry = new Entry(id, envelope, visibleAt, 0, segment, record.Length) { Touched = true, Order = ++_order, Durable = false };
            _liveBytes += record.Length;
        }
        try
        {
            // Also covers the records of a store that deferred its commit to this (SegmentMessageStore's deferCommitTo).
            await EnqueueCommit.Barrier.WhenDurableAsync();
        }
        catch
        {
            // Not acknowledged: the envelope may or may not survive a crash; in this process it must not be delivered
            // (the edge answers 451 and deletes the message).
            lock (_gate) Forget(id, SpoolRecord.Completed);
            throw;
        }
        lock (_gate)
        {
            if (_entries.ContainsKey(id))
            {
                entry.Durable = true;
                Index(entry);
                WakeFor(entry, _time.GetUtcNow());
            }
        }
        try
        {
            await MaybeCompactAsync();
        }
        catch (IOException)
        {
            // The envelope is durable and queued; compaction is tried again at the next send.
        }
    }

    public Task<IReadOnlyList<QueueLease>> ReceiveAsync(int maxMessages, TimeSpan lockDuration, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lockDuration, TimeSpan.Zero);
        var now = _time.GetUtcNow();
        var leases = new List<QueueLease>();
        var taken = 0;
        lock (_gate)
        {
            ExpireLocks(now);
            while (leases.Count < maxMessages && _waiting.Min is { } e && e.VisibleAt <= now)
            {
                _waiting.Remove(e);
                if (e.DeliveryCount == 0)
                {
                    _incoming--;
                    taken++;
                }
                e.DeliveryCount++;
                e.LockedUntil = now + lockDuration;
                _leased.Add(e);
                e.LockGeneration = ++_generation;
                e.Touched = true;
                leases.Add(new QueueLease(e.Envelope, e.DeliveryCount, $"{e.Id}:{e.LockGeneration}"));
                AppendAdvisory(new SpoolRecord { Kind = SpoolRecord.State, Id = e.Id, DeliveryCount = e.DeliveryCount, VisibleAt = e.VisibleAt, LockedUntil = e.LockedUntil });
            }
        }
        if (taken > 0) Taken?.Invoke(taken);
        return Task.FromResult<IReadOnlyList<QueueLease>>(leases);
    }

    public Task CompleteAsync(QueueLease lease, CancellationToken cancellationToken = default)
    {
        var (id, _) = ParseToken(lease);
        lock (_gate) Forget(id, SpoolRecord.Completed);
        return Task.CompletedTask;
    }

    public Task AbandonAsync(QueueLease lease, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        var (id, generation) = ParseToken(lease);
        lock (_gate)
        {
            // A stale lease (its lock expired and someone else holds the envelope now) must not reschedule it.
            if (_entries.TryGetValue(id, out var e) && e.LockGeneration == generation)
            {
                var now = _time.GetUtcNow();
                Unindex(e);
                e.VisibleAt = now + (delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
                e.LockedUntil = null;
                Index(e);
                AppendAdvisory(new SpoolRecord { Kind = SpoolRecord.State, Id = id, DeliveryCount = e.DeliveryCount, VisibleAt = e.VisibleAt });
                WakeFor(e, now);
            }
        }
        return Task.CompletedTask;
    }

    public Task<int> MakeDueAsync(string queueId, CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var count = 0;
        lock (_gate)
        {
            ExpireLocks(now);
            foreach (var e in _entries.Values.Where(e => e.Envelope.QueueId == queueId && e.Durable && e.VisibleAt > now && e.LockedUntil is null).ToList())
            {
                _waiting.Remove(e);
                e.VisibleAt = now;
                _waiting.Add(e);
                WakeFor(e, now);
                e.Touched = true;
                AppendAdvisory(new SpoolRecord { Kind = SpoolRecord.State, Id = e.Id, DeliveryCount = e.DeliveryCount, VisibleAt = e.VisibleAt });
                count++;
            }
        }
        return Task.FromResult(count);
    }

    /// <summary>Returns at once when an envelope is due; otherwise when a send, abandon or "deliver now" makes one due
    /// (the first idle worker is woken for each), when the earliest scheduled envelope or lock expiry comes, or after
    /// <paramref name="maxWait"/>, whichever is first.</summary>
    public async Task WaitForDueAsync(TimeSpan maxWait, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LinkedListNode<TaskCompletionSource> node;
        TimeSpan wait;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var next = Min(_waiting.Min?.VisibleAt, _leased.Min?.LockedUntil);
            if (next <= now) return;
            wait = next is { } at && at - now < maxWait ? at - now : maxWait;
            node = _idle.AddLast(waiter);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            await Task.WhenAny(waiter.Task, Task.Delay(wait, _time, stop.Token));
        }
        finally
        {
            // Ends the timer a wake-up made unnecessary, and forgets a waiter nobody woke.
            await stop.CancelAsync();
            lock (_gate)
            {
                if (node.List is not null) _idle.Remove(node);
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    public async Task DeadLetterAsync(QueueLease lease, string reason, CancellationToken cancellationToken = default)
    {
        var (id, _) = ParseToken(lease);
        lock (_gate)
        {
            if (!_entries.ContainsKey(id)) return; // already settled
        }
        var dead = new DeadFile(lease.Envelope, reason, lease.DeliveryCount, _time.GetUtcNow());
        DurableFile.WriteAtomic(Path.Combine(_deadDir, id + ".json"), JsonSerializer.SerializeToUtf8Bytes(dead, SpoolJsonContext.Default.DeadFile), sync: !DurabilityBarrier.SyncsFileSystem);
        await DurabilityBarrier.Shared.WhenDurableAsync(_deadDir);
        // A crash before this record lands is finished by Load: an envelope with a dead letter is not live.
        lock (_gate) Forget(id, SpoolRecord.DeadLettered);
    }

    public async IAsyncEnumerable<QueueEntry> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        // The disk, not this instance's memory: the CLI lists a spool a running server owns.
        foreach (var file in Replay(_dir, _deadDir, keep: null).Live.Values.OrderBy(e => e.Order))
        {
            if (_dropped.Contains(file.Id)) continue;
            cancellationToken.ThrowIfCancellationRequested();
            var (visibleAt, lockedUntil, count) = (file.VisibleAt, file.LockedUntil, file.DeliveryCount);
            lock (_gate)
            {
                if (_entries.TryGetValue(file.Id, out var live) && live.Touched) (visibleAt, lockedUntil, count) = (live.VisibleAt, live.LockedUntil, live.DeliveryCount);
            }
            var state = lockedUntil > now ? QueueEntryState.InFlight
                : visibleAt > now ? QueueEntryState.Scheduled
                : QueueEntryState.Ready;
            yield return new QueueEntry(file.Envelope, state, visibleAt, count, null);
        }
        foreach (var path in Directory.EnumerateFiles(_deadDir, "*.json").Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            DeadFile? dead;
            try
            {
                dead = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(path, cancellationToken), SpoolJsonContext.Default.DeadFile);
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                continue;
            }
            if (dead is null) continue;
            yield return new QueueEntry(dead.Envelope, QueueEntryState.DeadLettered, null, dead.DeliveryCount, dead.Reason);
        }
    }

    private void Load()
    {
        var replayed = Replay(_dir, _deadDir, _keep);
        _dropped.UnionWith(replayed.Dropped);
        foreach (var e in replayed.Live.Values.OrderBy(e => e.Order))
        {
            // Lock expiry is ignored: this process holds no leases yet, so whatever was in flight is due now.
            var entry = _entries[e.Id] = new Entry(e.Id, e.Envelope, e.VisibleAt, e.DeliveryCount, e.Segment, e.Bytes) { Order = ++_order };
            Index(entry);
            _liveBytes += e.Bytes;
        }
        _knownSegments.UnionWith(replayed.Segments);
    }

    /// <summary>Reads every segment in order, and asks <paramref name="keep"/> about each envelope still live.</summary>
    private static Replayed Replay(string dir, string deadDir, Func<Envelope, bool>? keep)
    {
        var entries = new Dictionary<string, ReplayedEntry>(StringComparer.Ordinal);
        var segments = SpoolJournal.Segments(dir);
        long order = 0;
        foreach (var (segment, path) in segments)
        {
            foreach (var (r, bytes) in SpoolJournal.Read(path))
            {
                switch (r.Kind)
                {
                    case SpoolRecord.Enqueued when r.Envelope is not null && r.VisibleAt is { } visibleAt:
                        // A copy made by compaction carries the state it had; the original may still be on disk
                        // (a crash between the copy and the deletion), and the later segment wins.
                        entries[r.Id] = new ReplayedEntry(r.Id, r.Envelope, visibleAt, r.DeliveryCount ?? 0, r.LockedUntil, segment, bytes, entries.TryGetValue(r.Id, out var first) ? first.Order : ++order);
                        break;
                    case SpoolRecord.State when entries.TryGetValue(r.Id, out var e):
                        entries[r.Id] = e with { DeliveryCount = r.DeliveryCount ?? e.DeliveryCount, VisibleAt = r.VisibleAt ?? e.VisibleAt, LockedUntil = r.LockedUntil };
                        break;
                    case SpoolRecord.Completed or SpoolRecord.DeadLettered:
                        entries.Remove(r.Id);
                        break;
                }
            }
        }
        // Crashed between writing the dead letter and recording it: finish the move.
        foreach (var id in entries.Keys.Where(id => File.Exists(Path.Combine(deadDir, id + ".json"))).ToList()) entries.Remove(id);
        var dropped = new List<string>();
        if (keep is not null)
        {
            foreach (var e in entries.Values.Where(e => !keep(e.Envelope)).ToList())
            {
                entries.Remove(e.Id);
                dropped.Add(e.Id);
            }
        }
        return new Replayed(entries, dropped, segments.Select(s => s.Number).ToList());
    }

    /// <summary>Under the lock: puts a durable entry in the index its state says.</summary>
    private void Index(Entry e)
    {
        if (!e.Durable) return;
        if (e.LockedUntil is null)
        {
            if (_waiting.Add(e) && e.DeliveryCount == 0) _incoming++;
        }
        else _leased.Add(e);
    }

    /// <summary>Under the lock: takes an entry out of its index, before a change of its visible-at or lock.</summary>
    private void Unindex(Entry e)
    {
        if (e.LockedUntil is null)
        {
            if (_waiting.Remove(e) && e.DeliveryCount == 0) _incoming--;
        }
        else _leased.Remove(e);
    }

    /// <summary>Under the lock: leases whose lock has expired wait again (a crashed or stuck consumer's envelope comes
    /// back), in their visible-at order as before.</summary>
    private void ExpireLocks(DateTimeOffset now)
    {
        while (_leased.Min is { } e && e.LockedUntil <= now)
        {
            _leased.Remove(e);
            e.LockedUntil = null;
            _waiting.Add(e);
        }
    }

    /// <summary>Under the lock, after <paramref name="e"/> was indexed: wakes one idle worker when it is due now (one
    /// each, so a burst of sends wakes as many workers), or when it is now the earliest, so a worker sleeping towards a
    /// later time sets its timer again.</summary>
    private void WakeFor(Entry e, DateTimeOffset now)
    {
        if (e.VisibleAt > now && !ReferenceEquals(_waiting.Min, e)) return;
        if (_idle.First is not { } first) return;
        _idle.RemoveFirst();
        first.Value.TrySetResult();
    }

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>Appends under the lock; returns the segment written.</summary>
    private long Append(byte[] record)
    {
        _writer ??= SpoolJournal.Writer.Create(_dir, _knownSegments.Count == 0 ? 1 : _knownSegments.Max() + 1, _segmentSize);
        _knownSegments.Add(_writer.Number);
        _writer.Append(record);
        return _writer.Number;
    }

    private void AppendAdvisory(SpoolRecord record)
    {
        try
        {
            Append(SpoolJournal.Encode(record));
        }
        catch (IOException)
        {
            // Advisory only (see class remarks).
        }
    }

    private void Forget(string id, string kind)
    {
        if (!_entries.Remove(id, out var e)) return;
        Unindex(e);
        _liveBytes -= e.Bytes;
        AppendAdvisory(new SpoolRecord { Kind = kind, Id = id });
    }

    /// <summary>
    /// Starts a new segment once the current one is large, moving the live envelopes of older segments into it
    /// (durably) before deleting those. Runs on a sender's thread, after its own envelope is durable.
    /// </summary>
    private async Task MaybeCompactAsync()
    {
        List<long> obsolete;
        // Without the lock first: every send asks, twenty sessions at a time, and the answer is almost always no.
        if (!SegmentFull()) return;
        lock (_gate)
        {
            if (!SegmentFull() || _writer is null) return;
            var fresh = SpoolJournal.Writer.Create(_dir, _writer.Number + 1, _segmentSize);
            _writer.Dispose();
            _writer = fresh;
            var next = fresh.Number;
            _knownSegments.Add(next);
            foreach (var e in _entries.Values.Where(e => e.Segment != next).OrderBy(e => e.Order))
            {
                var copy = SpoolJournal.Encode(new SpoolRecord
                {
                    Kind = SpoolRecord.Enqueued, Id = e.Id, Envelope = e.Envelope, VisibleAt = e.VisibleAt, DeliveryCount = e.DeliveryCount, LockedUntil = e.LockedUntil,
                });
                _writer.Append(copy);
                _liveBytes += copy.Length - e.Bytes;
                (e.Segment, e.Bytes) = (next, copy.Length);
            }
            obsolete = _knownSegments.Where(n => n != next).ToList();
            _knownSegments.ExceptWith(obsolete);
        }
        // Copies first durable, then the originals go; a crash in between leaves both, and Replay keeps the later.
        await DurabilityBarrier.Shared.WhenDurableAsync();
        foreach (var n in obsolete) DurableFile.TryDelete(SpoolJournal.PathOf(_dir, n));
    }

    private bool SegmentFull() => Volatile.Read(ref _writer) is { } w && w.Length >= Math.Max(_segmentSize, 2 * Volatile.Read(ref _liveBytes));

    private static (string Id, long Generation) ParseToken(QueueLease lease)
    {
        var token = lease.LockToken;
        var colon = token.LastIndexOf(':');
        if (colon <= 0 || !long.TryParse(token.AsSpan(colon + 1), out var gen)) throw new ArgumentException($"Not a lock token of this spool: {token}", nameof(lease));
        var id = token[..colon];
        if (!FileMessageStore.IsValidId(id)) throw new ArgumentException($"Not a lock token of this spool: {token}", nameof(lease));
        return (id, gen);
    }

    private sealed class Entry(string id, Envelope envelope, DateTimeOffset visibleAt, int deliveryCount, long segment, int bytes)
    {
        public string Id { get; } = id;
        public Envelope Envelope { get; } = envelope;
        public DateTimeOffset VisibleAt { get; set; } = visibleAt;
        public int DeliveryCount { get; set; } = deliveryCount;
        public DateTimeOffset? LockedUntil { get; set; }
        public long LockGeneration { get; set; }
        public long Order { get; init; }
        /// <summary>The segment holding its envelope record, and that record's size.</summary>
        public long Segment { get; set; } = segment;
        public int Bytes { get; set; } = bytes;
        /// <summary>Received or rescheduled by this instance since it loaded (or sent) the envelope.</summary>
        public bool Touched { get; set; }
        /// <summary>False while its send waits for the disk: not yet receivable (in no index).</summary>
        public bool Durable { get; set; } = true;
    }

    /// <summary>What the segments on disk say: the live envelopes, those the keep check refused, the segments read.</summary>
    private sealed record Replayed(Dictionary<string, ReplayedEntry> Live, List<string> Dropped, List<long> Segments);

    private sealed record ReplayedEntry(string Id, Envelope Envelope, DateTimeOffset VisibleAt, int DeliveryCount, DateTimeOffset? LockedUntil, long Segment, int Bytes, long Order);

    internal sealed record DeadFile([property: System.Text.Json.Serialization.JsonConverter(typeof(EnvelopeJsonConverter))] Envelope Envelope, string Reason, int DeliveryCount, DateTimeOffset DeadLetteredAt);
}
