using Mail.Core.Accounts;
using Mail.Storage.Embedded;

namespace Mail.Storage.Tests;

/// <summary>The server's cache of the directory partitions (State:DirectoryCacheTtl): another process's write (a second
/// store on the same file) is seen after the TTL or when told, never a stale answer of this process's own write.</summary>
public sealed class StateReadCacheTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ManualTime _time = new(DateTimeOffset.Parse("2026-12-07T04:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private string Db => Path.Combine(_dir.Path, "mail.db");

    private SqliteStateStore Server()
    {
        var store = new SqliteStateStore(Db, _time, DirectoryPartitions.Contains);
        store.CacheReads(TimeSpan.FromSeconds(5));
        return store;
    }

    [Fact]
    public async Task Another_process_write_is_seen_after_the_ttl_or_when_told()
    {
        var server = Server();
        var cli = new SqliteStateStore(Db, _time, DirectoryPartitions.Contains);
        Assert.Null(await server.GetAsync(DirectoryPartitions.User, "alice@example.org"));
        await cli.PutAsync(DirectoryPartitions.User, "alice@example.org", "{}");
        Assert.Equal(1, cli.WatchedWrites);
        Assert.Null(await server.GetAsync(DirectoryPartitions.User, "alice@example.org"));   // cached "no such user"
        server.ForgetCachedReads();
        Assert.NotNull(await server.GetAsync(DirectoryPartitions.User, "alice@example.org"));

        await cli.DeleteAsync(DirectoryPartitions.User, "alice@example.org");
        Assert.NotNull(await server.GetAsync(DirectoryPartitions.User, "alice@example.org"));
        _time.Now += TimeSpan.FromSeconds(5);
        Assert.Null(await server.GetAsync(DirectoryPartitions.User, "alice@example.org"));
    }

    [Fact]
    public async Task Own_writes_are_read_back_at_once_and_other_partitions_are_never_cached()
    {
        var server = Server();
        var other = new SqliteStateStore(Db, _time, DirectoryPartitions.Contains);
        Assert.Null(await server.GetAsync(DirectoryPartitions.SievePrefix + "alice@example.org", "active"));
        await server.PutAsync(DirectoryPartitions.SievePrefix + "alice@example.org", "active", "main");
        Assert.Equal("main", (await server.GetAsync(DirectoryPartitions.SievePrefix + "alice@example.org", "active"))?.Value);
        await server.DeleteAsync(DirectoryPartitions.SievePrefix + "alice@example.org", "active");
        Assert.Null(await server.GetAsync(DirectoryPartitions.SievePrefix + "alice@example.org", "active"));

        // A conditional write that loses to another process's write leaves no stale version behind.
        await server.PutAsync(DirectoryPartitions.Alias, "a@example.org", "[\"b@example.org\"]");
        var read = await server.GetAsync(DirectoryPartitions.Alias, "a@example.org");
        await other.PutAsync(DirectoryPartitions.Alias, "a@example.org", "[\"c@example.org\"]");
        Assert.False(await server.TryPutAsync(DirectoryPartitions.Alias, "a@example.org", "[]", read!.Version));
        Assert.Equal("[\"c@example.org\"]", (await server.GetAsync(DirectoryPartitions.Alias, "a@example.org"))?.Value);

        Assert.Null(await server.GetAsync("greylist", "k"));
        await other.PutAsync("greylist", "k", "1");
        Assert.Equal("1", (await server.GetAsync("greylist", "k"))?.Value);
        Assert.Equal(4, server.WatchedWrites);   // sieve put, delete, alias put, the failed TryPut; not the greylist
        Assert.Equal(1, other.WatchedWrites);
    }

    [Fact]
    public async Task An_expired_entry_is_not_answered_from_memory()
    {
        var server = Server();
        await server.PutAsync(DirectoryPartitions.Quota, "alice@example.org", "100", _time.GetUtcNow().AddSeconds(2));
        Assert.NotNull(await server.GetAsync(DirectoryPartitions.Quota, "alice@example.org"));
        _time.Now += TimeSpan.FromSeconds(3);
        Assert.Null(await server.GetAsync(DirectoryPartitions.Quota, "alice@example.org"));
    }

    [Fact]
    public async Task The_caches_above_forget_with_it_at_each_own_write_and_when_told_even_without_a_cache_here()
    {
        // The SMTP edge's RCPT answers (Smtp:DirectoryCacheTtl) are dropped whenever this store forgets its own: with
        // State:DirectoryCacheTtl=0 (no cache here) they must still be.
        foreach (var cached in new[] { true, false })
        {
            var server = new SqliteStateStore(Db, _time, DirectoryPartitions.Contains);
            if (cached) server.CacheReads(TimeSpan.FromSeconds(5));
            var forgotten = 0;
            server.AlsoForget(() => forgotten++);
            await server.PutAsync("greylist", "k", "1");
            Assert.Equal(0, forgotten);
            await server.PutAsync(DirectoryPartitions.User, "carol@example.org", "{}");
            Assert.Equal(2, forgotten);   // before and after the write
            server.ForgetCachedReads();
            Assert.Equal(3, forgotten);
        }
    }

    public void Dispose() => _dir.Dispose();
}
