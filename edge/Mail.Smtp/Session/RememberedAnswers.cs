using Mail.Core.Caching;

namespace Mail.Smtp.Session;

/// <summary>
/// The edge's answers from the directory (<see cref="RecipientDirectory"/>, <see cref="RecipientQuota"/>), kept for
/// <c>Smtp:DirectoryCacheTtl</c>. <see cref="Forget"/> drops them when the server learns of a change (its own write, or
/// a `mail` command's word on the control socket), and an answer asked before a forgetting is not kept after it
/// (<c>_generation</c>): a lookup racing the change must not put the old answer back for the whole TTL.
/// Bounded: a client guessing random addresses cannot grow it without limit.
/// </summary>
internal sealed class RememberedAnswers<T>(TimeSpan ttl, TimeProvider time)
{
    private const int MaxEntries = 50_000;

    private readonly ClearingCache<string, Answer> _answers = new(MaxEntries, StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _generation;

    public async ValueTask<T> GetAsync<TSource>(TSource source, string key, Func<TSource, string, Task<T>> ask)
    {
        if (ttl <= TimeSpan.Zero) return await ask(source, key);
        var now = time.GetTimestamp();
        if (_answers.TryGetValue(key, out var kept) && now < kept.ExpiresAt) return kept.Value;
        var generation = Volatile.Read(ref _generation);
        var value = await ask(source, key);
        lock (_gate)
        {
            if (_generation == generation) _answers.Set(key, new Answer(value, now + (long)(ttl.TotalSeconds * time.TimestampFrequency)));
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

    private readonly record struct Answer(T Value, long ExpiresAt);
}
