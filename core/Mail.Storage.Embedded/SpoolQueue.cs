using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// A durable queue as a spool directory (<c>directory/name/</c>), one file per envelope:
/// <list type="bullet">
/// <item><c>ID.env</c>: the envelope and its first visibility time, written once under its final name (file fsync,
/// then directory fsync, both group-committed) before <see cref="SendAsync"/> returns. It is never rewritten;
/// only a crash during that first write can tear it, and such a file never got its SendAsync acknowledged,
/// does not parse and is skipped.</item>
/// <item><c>ID.state</c>: delivery count, visible-at and lock expiry, rewritten on receive/abandon WITHOUT fsync.
/// It is advisory: if a machine crash loses it, the envelope is simply retried sooner with a lower count.
/// A process crash (SIGKILL) loses nothing, the page cache survives it.</item>
/// <item><c>dead/ID.json</c>: dead-lettered envelopes with the reason.</item>
/// </list>
/// Leases live in memory: a restart forgets them, so everything that was in flight becomes receivable again.
/// One instance per spool directory per process (consumers share it); ListAsync reads the disk, so another
/// process (the `mail queue` CLI) can inspect a running spool.
/// Completion deletes the files without a directory fsync: after a machine crash a completed envelope may
/// come back, which at-least-once delivery and idempotent consumers already allow.
/// </summary>
public sealed class SpoolQueue : IMessageQueue
{
    private const string EnvelopeExt = ".env";
    private const string StateExt = ".state";

    private static readonly JsonSerializerOptions s_json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly string _dir;
    private readonly string _deadDir;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _generation;

    public SpoolQueue(string directory, string name, TimeProvider? time = null)
    {
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

    /// <summary>Envelopes known to this instance that are not settled (ready, scheduled or in flight).</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    public async Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        // Version 7 GUIDs sort by creation time: file names give FIFO order on reload.
        var id = Guid.CreateVersion7().ToString("N");
        var now = _time.GetUtcNow();
        var visibleAt = notBefore is { } nb && nb > now ? nb : now;
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new EnvelopeFile(envelope, visibleAt), s_json);
        // Written in place, not through temp + rename: the id is fresh (CreateNew), and a file torn by a crash
        // before its sync completed never got a 250 and does not parse, so Load and ListAsync skip it.
        // One rename and one directory entry fewer per message than temp + rename.
        var path = Path.Combine(_dir, id + EnvelopeExt);
        try
        {
            using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.None))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            await GroupSync.Shared.SyncDirectoryAsync(_dir);
        }
        catch
        {
            DurableFile.TryDelete(path);
            throw;
        }
        lock (_gate) _entries[id] = new Entry(id, envelope, visibleAt, 0) { Touched = true };
    }

    public Task<IReadOnlyList<QueueLease>> ReceiveAsync(int maxMessages, TimeSpan lockDuration, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lockDuration, TimeSpan.Zero);
        var now = _time.GetUtcNow();
        var leases = new List<QueueLease>();
        lock (_gate)
        {
            foreach (var e in _entries.Values.Where(e => e.VisibleAt <= now && (e.LockedUntil is null || e.LockedUntil <= now))
                         .OrderBy(e => e.VisibleAt).ThenBy(e => e.Id, StringComparer.Ordinal).Take(maxMessages))
            {
                e.DeliveryCount++;
                e.LockedUntil = now + lockDuration;
                e.LockGeneration = ++_generation;
                e.Touched = true;
                leases.Add(new QueueLease(e.Envelope, e.DeliveryCount, $"{e.Id}:{e.LockGeneration}"));
                // Under the lock, so a slower writer can never overwrite a newer state with an older one.
                WriteState(e.Id, new StateFile(e.DeliveryCount, e.VisibleAt, e.LockedUntil));
            }
        }
        return Task.FromResult<IReadOnlyList<QueueLease>>(leases);
    }

    public Task CompleteAsync(QueueLease lease, CancellationToken cancellationToken = default)
    {
        var (id, _) = ParseToken(lease);
        lock (_gate) _entries.Remove(id);
        // The envelope file first: once it is gone the envelope cannot come back, whatever happens to .state.
        File.Delete(Path.Combine(_dir, id + EnvelopeExt));
        File.Delete(Path.Combine(_dir, id + StateExt));
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
                e.VisibleAt = _time.GetUtcNow() + (delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
                e.LockedUntil = null;
                WriteState(id, new StateFile(e.DeliveryCount, e.VisibleAt, null));
            }
        }
        return Task.CompletedTask;
    }

    public async Task DeadLetterAsync(QueueLease lease, string reason, CancellationToken cancellationToken = default)
    {
        var (id, _) = ParseToken(lease);
        var envPath = Path.Combine(_dir, id + EnvelopeExt);
        if (!File.Exists(envPath)) return; // already settled
        var dead = new DeadFile(lease.Envelope, reason, lease.DeliveryCount, _time.GetUtcNow());
        DurableFile.WriteAtomic(Path.Combine(_deadDir, id + ".json"), JsonSerializer.SerializeToUtf8Bytes(dead, s_json), sync: true);
        await GroupSync.Shared.SyncDirectoryAsync(_deadDir);
        lock (_gate) _entries.Remove(id);
        File.Delete(envPath);
        File.Delete(Path.Combine(_dir, id + StateExt));
    }

    public async IAsyncEnumerable<QueueEntry> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        foreach (var path in Directory.EnumerateFiles(_dir, "*" + EnvelopeExt).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = Path.GetFileNameWithoutExtension(path);
            var file = ReadEnvelope(path);
            if (file is null) continue;
            Entry? live;
            lock (_gate) live = _entries.GetValueOrDefault(id);
            DateTimeOffset visibleAt;
            DateTimeOffset? lockedUntil;
            int count;
            if (live is not null && live.Touched)
            {
                lock (_gate) (visibleAt, lockedUntil, count) = (live.VisibleAt, live.LockedUntil, live.DeliveryCount);
            }
            else
            {
                // Not received or abandoned by this instance: another process may own the spool (the CLI inspecting
                // a running server), so its state file is the best knowledge.
                var state = ReadState(id);
                visibleAt = state?.VisibleAt ?? file.VisibleAt;
                lockedUntil = state?.LockedUntil;
                count = state?.DeliveryCount ?? 0;
            }
            var queueState = lockedUntil > now ? QueueEntryState.InFlight
                : visibleAt > now ? QueueEntryState.Scheduled
                : QueueEntryState.Ready;
            yield return new QueueEntry(file.Envelope, queueState, visibleAt, count, null);
        }
        foreach (var path in Directory.EnumerateFiles(_deadDir, "*.json").Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            DeadFile? dead;
            try
            {
                dead = JsonSerializer.Deserialize<DeadFile>(await File.ReadAllBytesAsync(path, cancellationToken), s_json);
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
        foreach (var path in Directory.EnumerateFiles(_dir, "*" + EnvelopeExt))
        {
            var id = Path.GetFileNameWithoutExtension(path);
            if (File.Exists(Path.Combine(_deadDir, id + ".json")))
            {
                // Crashed between writing the dead letter and removing the original: finish the move.
                DurableFile.TryDelete(path);
                DurableFile.TryDelete(Path.Combine(_dir, id + StateExt));
                continue;
            }
            var file = ReadEnvelope(path);
            if (file is null) continue;
            var state = ReadState(id);
            // Lock expiry is ignored: this process holds no leases yet, so whatever was in flight is due now.
            _entries[id] = new Entry(id, file.Envelope, state?.VisibleAt ?? file.VisibleAt, state?.DeliveryCount ?? 0);
        }
        var cutoff = DateTime.UtcNow - TimeSpan.FromHours(1);
        foreach (var tmp in Directory.EnumerateFiles(_dir, ".tmp-*").Concat(Directory.EnumerateFiles(_deadDir, ".tmp-*")))
        {
            if (File.GetLastWriteTimeUtc(tmp) < cutoff) DurableFile.TryDelete(tmp);
        }
    }

    private static EnvelopeFile? ReadEnvelope(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<EnvelopeFile>(File.ReadAllBytes(path), s_json);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        // A corrupt envelope file is left in place for an operator rather than silently deleted.
        catch (JsonException)
        {
            return null;
        }
    }

    private StateFile? ReadState(string id)
    {
        try
        {
            return JsonSerializer.Deserialize<StateFile>(File.ReadAllBytes(Path.Combine(_dir, id + StateExt)), s_json);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    private void WriteState(string id, StateFile state)
    {
        try
        {
            DurableFile.WriteAtomic(Path.Combine(_dir, id + StateExt), JsonSerializer.SerializeToUtf8Bytes(state, s_json), sync: false);
        }
        catch (IOException)
        {
            // Advisory only (see class remarks).
        }
    }

    private static (string Id, long Generation) ParseToken(QueueLease lease)
    {
        var token = lease.LockToken;
        var colon = token.LastIndexOf(':');
        if (colon <= 0 || !long.TryParse(token.AsSpan(colon + 1), out var gen)) throw new ArgumentException($"Not a lock token of this spool: {token}", nameof(lease));
        var id = token[..colon];
        if (!FileMessageStore.IsValidId(id)) throw new ArgumentException($"Not a lock token of this spool: {token}", nameof(lease));
        return (id, gen);
    }

    private sealed class Entry(string id, Envelope envelope, DateTimeOffset visibleAt, int deliveryCount)
    {
        public string Id { get; } = id;
        public Envelope Envelope { get; } = envelope;
        public DateTimeOffset VisibleAt { get; set; } = visibleAt;
        public int DeliveryCount { get; set; } = deliveryCount;
        public DateTimeOffset? LockedUntil { get; set; }
        public long LockGeneration { get; set; }
        /// <summary>Received or rescheduled by this instance since it loaded (or sent) the envelope.</summary>
        public bool Touched { get; set; }
    }

    private sealed record EnvelopeFile(Envelope Envelope, DateTimeOffset VisibleAt);

    private sealed record StateFile(int DeliveryCount, DateTimeOffset VisibleAt, DateTimeOffset? LockedUntil);

    private sealed record DeadFile(Envelope Envelope, string Reason, int DeliveryCount, DateTimeOffset DeadLetteredAt);
}
