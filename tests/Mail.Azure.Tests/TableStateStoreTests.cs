using Mail.Storage.Azure;

namespace Mail.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class TableStateStoreTests(AzuriteFixture azurite)
{
    private TableStateStore NewStore(TimeProvider? time = null) =>
        new(azurite.Tables.GetTableClient(AzuriteFixture.UniqueName("state")), time);

    [Fact]
    public async Task Versions_guard_every_write()
    {
        var s = NewStore();
        Assert.True(await s.TryPutAsync("user", "a@example.org", "v1", null));
        Assert.False(await s.TryPutAsync("user", "a@example.org", "other", null));
        var e = await s.GetAsync("user", "a@example.org");
        Assert.Equal("v1", e!.Value);
        Assert.True(await s.TryPutAsync("user", "a@example.org", "v2", e.Version));
        Assert.False(await s.TryPutAsync("user", "a@example.org", "v3", e.Version)); // stale version
        Assert.Equal("v2", (await s.GetAsync("user", "a@example.org"))!.Value);
        Assert.False(await s.TryPutAsync("user", "missing", "x", e.Version));
        await s.DeleteAsync("user", "a@example.org");
        await s.DeleteAsync("user", "a@example.org");
        Assert.Null(await s.GetAsync("user", "a@example.org"));
    }

    [Fact]
    public async Task Keys_with_characters_tables_forbid_round_trip_and_list_in_key_order()
    {
        var s = NewStore();
        string[] keys = ["192.0.2.1/a@b#c?d", "a\\b", "100%", "zz", "Ab"];
        foreach (var k in keys) await s.PutAsync("grey/list", k, "v:" + k);
        var listed = await s.ListAsync("grey/list").ToListAsync();
        Assert.Equal(keys.Order(StringComparer.Ordinal), listed.Select(e => e.Key));
        Assert.All(listed, e => Assert.Equal("v:" + e.Key, e.Value));
        Assert.All(listed, e => Assert.Equal("grey/list", e.Partition));
    }

    [Fact]
    public async Task Expired_entries_are_gone_and_purged_and_can_be_inserted_again()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var s = NewStore(clock);
        await s.PutAsync("g", "old", "1", clock.GetUtcNow().AddMinutes(5));
        await s.PutAsync("g", "keep", "2", clock.GetUtcNow().AddHours(5));
        await s.PutAsync("g", "forever", "3");
        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Null(await s.GetAsync("g", "old"));
        Assert.Equal(["forever", "keep"], (await s.ListAsync("g").ToListAsync()).Select(e => e.Key));
        Assert.True(await s.TryPutAsync("g", "old", "new", null, clock.GetUtcNow().AddMinutes(5)));
        Assert.Equal("new", (await s.GetAsync("g", "old"))!.Value);
        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(1, await s.PurgeExpiredAsync(clock.GetUtcNow()));
        Assert.Equal(0, await s.PurgeExpiredAsync(clock.GetUtcNow()));
        Assert.NotNull(await s.GetAsync("g", "keep"));
    }

    [Fact]
    public async Task Concurrent_increments_from_two_instances_are_all_counted()
    {
        var name = AzuriteFixture.UniqueName("state");
        var a = new TableStateStore(azurite.Tables.GetTableClient(name));
        var b = new TableStateStore(azurite.Tables.GetTableClient(name));
        var expires = DateTimeOffset.UtcNow.AddHours(1);
        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => (i % 2 == 0 ? a : b).IncrementAsync("rate", "192.0.2.1", 1, expires)));
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), results.Order());
        Assert.Equal(35, await a.IncrementAsync("rate", "192.0.2.1", 5, expires));
    }

    [Fact]
    public async Task An_expired_counter_starts_again()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var s = NewStore(clock);
        Assert.Equal(3, await s.IncrementAsync("rate", "k", 3, clock.GetUtcNow().AddMinutes(1)));
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(1, await s.IncrementAsync("rate", "k", 1, clock.GetUtcNow().AddMinutes(1)));
    }
}
