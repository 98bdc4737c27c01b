namespace Mail.Core.Caching;

/// <summary>
/// Answers of a slower source (the directory in the state store, SQLite) kept for a TTL. <see cref="Forget"/> drops
/// them when a change is known (the process's own write, before and after it, or a `mail` command's word on the
/// control socket), and an answer asked before a forgetting is not kept after it: a lookup racing the change must not
/// put the old answer back for the whole TTL. Bounded: a client guessing random addresses cannot grow it without limit.
/// Used by the SMTP edge's RCPT answers and by the state store's own read cache.
/// </summary>
public sealed class RememberedAnswers<TKey, T>(TimeSpan ttl, TimeProvider time, IEqualityComparer<TKey>? comparer = null,
    Func<T, DateTimeOffset, bool>? stillTrue = null) where TKey : notnull
{
    private const int MaxEntries = 50_000;

    private readonly ClearingCache<TKey, Answer> _answers = new(MaxEntries, comparer);
    private readonly Lock _gate = new();
    private long _generation;

    /// <summary>The kept answer, or <paramref name="ask"/>'s (kept unless a forgetting came in between). With
    /// <c>stillTrue</c>, a kept answer it rejects at the time of asking (an entry past its own expiry) is asked again.</summary>
    public async ValueTask<T> GetAsync<TSource>(TSource source, TKey key, Func<TSource, TKey, Task<T>> ask)
    {
        if (ttl <= TimeSpan.Zero) return await ask(source, key);
        // One clock (the provider's wall time) for the TTL and for stillTrue's expiry.
        var now = time.GetUtcNow();
        if (_answers.TryGetValue(key, out var kept) && now < kept.ExpiresAt && (stillTrue is null || stillTrue(kept.Value, now)))
        {
            return kept.Value;
        }
        var generation = Volatile.Read(ref _generation);
        var value = await ask(source, key);
        lock (_gate)
        {
            if (_generation == generation) _answers.Set(key, new Answer(value, now + ttl));
        }
        return value;
    }

    public void Forget()
    {
        lock (_gate)
        {
            _generation++;
            _answers.Clear();
        }
    }

    private readonly record struct Answer(T Value, DateTimeOffset ExpiresAt);
}
