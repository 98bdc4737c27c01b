using System.Collections;
using System.Collections.Concurrent;

namespace Mail.Core.Caching;

/// <summary>
/// A concurrent map that empties itself when it reaches its bound: no bookkeeping per hit or per entry, for caches
/// whose misses are cheap to fill again (formatted ENVELOPEs, directory and DNS answers, decoded keys).
/// Its size is counted on the side, so it is approximate under races: <see cref="ConcurrentDictionary{TKey,TValue}.Count"/>
/// takes every lock of the table, too dear to ask on each add when a FETCH 1:* fills thousands of entries.
/// </summary>
public sealed class ClearingCache<TKey, TValue>(int maxEntries, IEqualityComparer<TKey>? comparer = null) : IEnumerable<KeyValuePair<TKey, TValue>>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, TValue> _entries = new(comparer);
    private int _count;

    /// <summary>Entries held (approximate while other threads add or clear).</summary>
    public int Count => Volatile.Read(ref _count);

    public bool IsFull => Count >= maxEntries;

    public bool TryGetValue(TKey key, out TValue value) => _entries.TryGetValue(key, out value!);

    /// <summary>Adds or replaces; a new key arriving when the cache is full empties it first. A bound of zero or less
    /// keeps nothing.</summary>
    public void Set(TKey key, TValue value)
    {
        if (maxEntries <= 0) return;
        if (IsFull && !_entries.ContainsKey(key)) Clear();
        if (_entries.TryAdd(key, value)) Interlocked.Increment(ref _count);
        else _entries[key] = value;
    }

    /// <summary>The cached value, or <paramref name="create"/>'s (then cached); two threads missing at once may both
    /// create, the last one kept: for values that are the same whoever makes them.</summary>
    public TValue GetOrAdd<TArg>(TKey key, Func<TKey, TArg, TValue> create, TArg argument)
    {
        if (_entries.TryGetValue(key, out var value)) return value;
        value = create(key, argument);
        Set(key, value);
        return value;
    }

    /// <summary>Removes the entry only while it still holds <paramref name="entry"/>'s value.</summary>
    public bool TryRemove(KeyValuePair<TKey, TValue> entry)
    {
        if (!_entries.TryRemove(entry)) return false;
        Interlocked.Decrement(ref _count);
        return true;
    }

    public void Clear()
    {
        _entries.Clear();
        Volatile.Write(ref _count, 0);
    }

    public IEnumerator<KeyValuePair<TKey, TValue>> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
