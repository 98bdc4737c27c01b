using Mail.Core.Caching;
using Xunit;

namespace Mail.Core.Tests;

public sealed class ClearingCacheTests
{
    [Fact]
    public void Holds_up_to_its_bound_and_empties_itself_for_a_new_key_when_full()
    {
        var cache = new ClearingCache<string, int>(3, StringComparer.Ordinal);
        cache.Set("a", 1);
        cache.Set("b", 2);
        cache.Set("c", 3);
        Assert.Equal(3, cache.Count);
        Assert.True(cache.IsFull);

        cache.Set("b", 20); // a known key replaces its value, nothing is dropped
        Assert.Equal(3, cache.Count);
        Assert.True(cache.TryGetValue("b", out var b));
        Assert.Equal(20, b);

        cache.Set("d", 4); // a new key when full: emptied first, then added
        Assert.Equal(1, cache.Count);
        Assert.False(cache.TryGetValue("a", out _));
        Assert.True(cache.TryGetValue("d", out var d));
        Assert.Equal(4, d);
    }

    [Fact]
    public void TryRemove_takes_out_only_the_value_it_was_given_and_keeps_the_count()
    {
        var cache = new ClearingCache<int, string>(10);
        cache.Set(1, "one");
        Assert.False(cache.TryRemove(new(1, "uno")));
        Assert.True(cache.TryRemove(new(1, "one")));
        Assert.Equal(0, cache.Count);
        Assert.Empty(cache);
    }

    [Fact]
    public void A_bound_of_zero_keeps_nothing()
    {
        var cache = new ClearingCache<int, int>(0);
        cache.Set(1, 1);
        Assert.False(cache.TryGetValue(1, out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Concurrent_writers_never_hold_more_than_the_bound_plus_the_writers_in_flight()
    {
        var cache = new ClearingCache<int, int>(1000);
        Parallel.For(0, 100_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => cache.Set(i, i));
        var held = cache.Count();
        Assert.InRange(held, 1, 1000 + 4);
        Assert.InRange(cache.Count, 1, 1000 + 4);
    }
}
