using Mail.Core.Ports;
using Xunit;

namespace Mail.Storage.Contracts;

/// <summary>The documented behaviour of <see cref="IStateStore"/>, for every adapter.
/// Partitions are unique per test, so a store may be shared. Keys avoid characters Azure Table forbids.</summary>
public abstract class StateStoreContract
{
    protected abstract Task<IStateStore> CreateStoreAsync();

    protected static string NewPartition() => "p" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Several_keys_of_several_partitions_are_read_at_once_in_the_order_asked()
    {
        var store = await CreateStoreAsync();
        var (p, q) = (NewPartition(), NewPartition());
        await store.PutAsync(p, "a", "1");
        await store.PutAsync(q, "a", "2");
        await store.PutManyAsync(p, [.. Enumerable.Range(0, 310).Select(i => new KeyValuePair<string, string>($"k{i}", $"v{i}"))]);

        var found = await store.GetManyAsync([(q, "a"), (p, "missing"), (p, "a"), (q, "a")]);
        Assert.Equal(["2", null, "1", "2"], found.Select(e => e?.Value));
        Assert.Equal((p, "a"), (found[2]!.Partition, found[2]!.Key));
        Assert.Empty(await store.GetManyAsync([]));

        // More keys than one query carries: every answer still in its place.
        var many = await store.GetManyAsync([.. Enumerable.Range(0, 310).Reverse().Select(i => (p, $"k{i}"))]);
        Assert.Equal(Enumerable.Range(0, 310).Reverse().Select(i => $"v{i}"), many.Select(e => e?.Value));
    }

    [Fact]
    public async Task Insert_only_when_missing_and_update_only_with_the_current_version()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        Assert.Null(await store.GetAsync(p, "k"));
        Assert.True(await store.TryPutAsync(p, "k", "v1", expectedVersion: null));
        Assert.False(await store.TryPutAsync(p, "k", "other", expectedVersion: null));
        var e1 = await store.GetAsync(p, "k");
        Assert.NotNull(e1);
        Assert.Equal("v1", e1.Value);
        Assert.Equal(p, e1.Partition);
        Assert.Equal("k", e1.Key);
        Assert.True(await store.TryPutAsync(p, "k", "v2", e1.Version));
        var e2 = await store.GetAsync(p, "k");
        Assert.Equal("v2", e2!.Value);
        Assert.NotEqual(e1.Version, e2.Version);
        // The stale version loses, and nothing is overwritten.
        Assert.False(await store.TryPutAsync(p, "k", "v3", e1.Version));
        Assert.Equal("v2", (await store.GetAsync(p, "k"))!.Value);
        // Updating a missing key is a conflict, not an insert.
        Assert.False(await store.TryPutAsync(p, "missing", "x", e2.Version));
        Assert.Null(await store.GetAsync(p, "missing"));
    }

    [Fact]
    public async Task Concurrent_conditional_updates_have_exactly_one_winner()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        await store.PutAsync(p, "k", "0");
        var version = (await store.GetAsync(p, "k"))!.Version;
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => store.TryPutAsync(p, "k", $"w{i}", version)));
        Assert.Equal(1, results.Count(r => r));
    }

    [Fact]
    public async Task Put_overwrites_and_delete_is_idempotent()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        await store.PutAsync(p, "k", "a");
        await store.PutAsync(p, "k", "b");
        Assert.Equal("b", (await store.GetAsync(p, "k"))!.Value);
        await store.DeleteAsync(p, "k");
        Assert.Null(await store.GetAsync(p, "k"));
        await store.DeleteAsync(p, "k");
        Assert.True(await store.TryPutAsync(p, "k", "again", null));
    }

    [Fact]
    public async Task Put_many_writes_every_entry_with_its_expiry_and_overwrites()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        var future = DateTimeOffset.UtcNow.AddHours(1);
        await store.PutAsync(p, "k1", "old");
        await store.PutManyAsync(p, [new("k1", "a"), new("k2", "b"), new("k3", "c")], future);
        Assert.Equal(["k1", "k2", "k3"], await ListKeysAsync(store, p));
        Assert.Equal("a", (await store.GetAsync(p, "k1"))!.Value);
        var k3 = await store.GetAsync(p, "k3");
        Assert.Equal("c", k3!.Value);
        Assert.True(Math.Abs((k3.ExpiresAt!.Value - future).TotalSeconds) < 1);
        await store.PutManyAsync(p, []);
        Assert.Equal(3, (await ListKeysAsync(store, p)).Count);
    }

    [Fact]
    public async Task Expired_entries_are_missing_and_purged()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        var past = DateTimeOffset.UtcNow.AddMinutes(-1);
        var future = DateTimeOffset.UtcNow.AddHours(1);
        await store.PutAsync(p, "old", "x", past);
        await store.PutAsync(p, "live", "y", future);
        Assert.Null(await store.GetAsync(p, "old"));
        var live = await store.GetAsync(p, "live");
        Assert.NotNull(live);
        Assert.NotNull(live.ExpiresAt);
        Assert.True(Math.Abs((live.ExpiresAt.Value - future).TotalSeconds) < 1);
        Assert.Equal(["live"], await ListKeysAsync(store, p));
        // An expired key may be inserted again as if missing.
        Assert.True(await store.TryPutAsync(p, "old", "new", null));
        await store.PutAsync(p, "old2", "x", past);
        Assert.True(await store.PurgeExpiredAsync(DateTimeOffset.UtcNow) >= 1);
        Assert.Equal(["live", "old"], await ListKeysAsync(store, p));
    }

    [Fact]
    public async Task Increment_creates_at_zero_and_is_atomic_under_concurrency()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        var expires = DateTimeOffset.UtcNow.AddHours(1);
        Assert.Equal(5, await store.IncrementAsync(p, "c", 5, expires));
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => store.IncrementAsync(p, "c", 1, expires)));
        Assert.Equal(26, await store.IncrementAsync(p, "c", 1, expires));
        Assert.Equal("26", (await store.GetAsync(p, "c"))!.Value);
    }

    [Fact]
    public async Task Expired_counter_starts_again()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        await store.PutAsync(p, "c", "41", DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal(1, await store.IncrementAsync(p, "c", 1, DateTimeOffset.UtcNow.AddHours(1)));
    }

    [Fact]
    public async Task List_is_ordered_by_key_and_limited_to_the_partition()
    {
        var store = await CreateStoreAsync();
        var p = NewPartition();
        var other = NewPartition();
        foreach (var k in new[] { "b", "c", "a" }) await store.PutAsync(p, k, k.ToUpperInvariant());
        await store.PutAsync(other, "a", "elsewhere");
        var entries = new List<StateEntry>();
        await foreach (var e in store.ListAsync(p)) entries.Add(e);
        Assert.Equal(["a", "b", "c"], entries.Select(e => e.Key));
        Assert.Equal(["A", "B", "C"], entries.Select(e => e.Value));
        Assert.All(entries, e => Assert.Equal(p, e.Partition));
    }

    private static async Task<List<string>> ListKeysAsync(IStateStore store, string partition)
    {
        var keys = new List<string>();
        await foreach (var e in store.ListAsync(partition)) keys.Add(e.Key);
        return keys;
    }
}
