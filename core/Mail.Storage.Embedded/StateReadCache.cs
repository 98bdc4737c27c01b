using Mail.Core.Caching;
using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// The state store's answers for the partitions <paramref name="cached"/> names, kept in memory for
/// <paramref name="ttl"/>: every message asks "our domain? our user? an alias? a limit? a Sieve script?" several times
/// over, and each asked SQLite. A write through the same store forgets the answers before and after it,
/// and an answer read while a write was under way is not kept (<see cref="Generation"/>), so this process never reads
/// back an older value than it wrote. Another process's write is seen once the TTL has passed, or at once after
/// <see cref="Clear"/> (the server's control socket, which the `mail` commands call after a change).
/// Bounded: a client guessing addresses cannot grow it without limit.
/// </summary>
internal sealed class StateReadCache(Func<string, bool> cached, TimeSpan ttl, TimeProvider time)
{
    private const int MaxEntries = 50_000;

    private readonly ClearingCache<(string Partition, string Key), Answer> _answers = new(MaxEntries);
    private readonly Lock _gate = new();
    private long _generation;

    public bool Caches(string partition) => cached(partition);

    /// <summary>Changes with every write begun or ended in a cached partition: taken before a read, compared before
    /// keeping its answer.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>The kept answer (null: the key is missing), when there is one and it is neither stale nor expired.</summary>
    public bool TryGet(string partition, string key, out StateEntry? entry)
    {
        entry = null;
        var now = time.GetUtcNow();
        if (!_answers.TryGetValue((partition, key), out var answer) || now >= answer.StaleAt) return false;
        if (answer.Entry?.ExpiresAt is { } expires && expires <= now) return false;
        entry = answer.Entry;
        return true;
    }

    /// <summary>Keeps an answer read from the database, unless a write began or ended since <paramref name="generation"/>.</summary>
    public void Keep(string partition, string key, StateEntry? entry, long generation)
    {
        var staleAt = time.GetUtcNow() + ttl;
        lock (_gate)
        {
            if (_generation == generation) _answers.Set((partition, key), new Answer(entry, staleAt));
        }
    }

    /// <summary>Forgets every answer: called before and after each write to a cached partition (whatever its outcome: a
    /// failed conditional write means the kept version was stale; such writes are an administrator's, rare next to the
    /// reads), and when another process says it changed one.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _generation++;
            _answers.Clear();
        }
    }

    private readonly record struct Answer(StateEntry? Entry, DateTimeOffset StaleAt);
}
