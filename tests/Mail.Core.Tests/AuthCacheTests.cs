using System.Globalization;
using Mail.Core.Accounts;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>The login cache (Auth:CacheTtl) behind <see cref="MailDirectory.AuthenticateAsync"/>, which SMTP AUTH and IMAP
/// LOGIN/AUTHENTICATE share: what it remembers, what makes it forget, and what it must never remember.</summary>
public sealed class AuthCacheTests : IDisposable
{
    private const string Alice = "alice@example.org";
    private readonly TempData _data = new();
    private readonly ManualTime _time = new(DateTimeOffset.Parse("2026-03-01T00:00:00Z", CultureInfo.InvariantCulture));

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _data.Dispose();
    }

    private async Task<MailDirectory> DirectoryAsync(AuthCache? cache)
    {
        var directory = new MailDirectory(new SqliteStateStore(Path.Combine(_data.Path, "mail.db")), passwordIterations: 1000, cache);
        await directory.AddDomainAsync("example.org");
        await directory.SetUserAsync(Alice, "first-pw");
        return directory;
    }

    [Fact]
    public async Task A_repeated_login_is_answered_from_the_cache()
    {
        var cache = new AuthCache(TimeSpan.FromHours(1), time: _time);
        var directory = await DirectoryAsync(cache);
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        Assert.Equal((0L, 1), (cache.Hits, cache.Count));
        Assert.Equal(Alice, await directory.AuthenticateAsync("Alice@Example.ORG", "first-pw"));
        Assert.Equal(1, cache.Hits);
        // After the TTL the slow check runs again (and remembers again).
        _time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        Assert.Equal(1, cache.Hits);
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        Assert.Equal(2, cache.Hits);
    }

    [Fact]
    public async Task A_changed_password_misses_and_the_old_one_stops_working_at_once()
    {
        var cache = new AuthCache(TimeSpan.FromHours(1), time: _time);
        var directory = await DirectoryAsync(cache);
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        await directory.SetUserAsync(Alice, "second-pw");
        Assert.Null(await directory.AuthenticateAsync(Alice, "first-pw"));
        Assert.Equal(0, cache.Hits);
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "second-pw"));
        Assert.Equal(0, cache.Hits);
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "second-pw"));
        Assert.Equal(1, cache.Hits);
        // Setting the same password again stores a new salt: a new record, so the entry no longer matches.
        await directory.SetUserAsync(Alice, "second-pw");
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "second-pw"));
        Assert.Equal(1, cache.Hits);
    }

    [Fact]
    public async Task A_wrong_password_is_never_cached()
    {
        var cache = new AuthCache(TimeSpan.FromHours(1), time: _time);
        var directory = await DirectoryAsync(cache);
        Assert.Null(await directory.AuthenticateAsync(Alice, "wrong"));
        Assert.Null(await directory.AuthenticateAsync(Alice, "wrong"));
        Assert.Equal((0L, 0), (cache.Hits, cache.Count));
        Assert.Null(await directory.AuthenticateAsync("nobody@example.org", "first-pw"));
        Assert.Equal(0, cache.Count);
        // With a right password cached, a wrong one is still refused and does not replace it.
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        Assert.Null(await directory.AuthenticateAsync(Alice, "wrong"));
        Assert.Null(await directory.AuthenticateAsync(Alice, "FIRST-PW"));
        Assert.Equal(0, cache.Hits);
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        Assert.Equal(1, cache.Hits);
    }

    [Fact]
    public async Task A_zero_ttl_turns_the_cache_off()
    {
        Assert.Null(AuthCache.Create(TimeSpan.Zero, AuthCache.DefaultSize));
        Assert.NotNull(AuthCache.Create(AuthCache.DefaultTtl, AuthCache.DefaultSize));
        Assert.Throws<ArgumentOutOfRangeException>(() => AuthCache.Create(TimeSpan.FromSeconds(-1), AuthCache.DefaultSize));
        var directory = await DirectoryAsync(AuthCache.Create(TimeSpan.Zero, AuthCache.DefaultSize));
        Assert.Null(directory.AuthCache);
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        Assert.Equal(Alice, await directory.AuthenticateAsync(Alice, "first-pw"));
        await directory.SetUserAsync(Alice, "second-pw");
        Assert.Null(await directory.AuthenticateAsync(Alice, "first-pw"));
    }

    [Fact]
    public void Entries_are_bounded_and_tied_to_the_stored_record()
    {
        var cache = new AuthCache(TimeSpan.FromMinutes(1), 2, _time);
        cache.Add("a@x.test", "pw", "record-1");
        Assert.True(cache.Matches("a@x.test", "pw", "record-1"));
        Assert.False(cache.Matches("a@x.test", "PW", "record-1"));
        Assert.False(cache.Matches("b@x.test", "pw", "record-1"));
        Assert.False(cache.Matches("a@x.test", "pw", "record-2"));
        Assert.False(cache.Matches("a@x.test", "pw", "record-1")); // the mismatch dropped the entry

        cache.Add("a@x.test", "pw", "r");
        _time.Advance(TimeSpan.FromSeconds(1));
        cache.Add("b@x.test", "pw", "r");
        cache.Add("c@x.test", "pw", "r");
        Assert.Equal(2, cache.Count);
        Assert.False(cache.Matches("a@x.test", "pw", "r")); // soonest to expire was evicted
        Assert.True(cache.Matches("c@x.test", "pw", "r"));
    }
}
