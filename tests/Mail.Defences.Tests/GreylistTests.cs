using System.Net;
using Mail.Defences.Greylisting;
using Mail.Storage.Embedded;

namespace Mail.Defences.Tests;

public sealed class GreylistTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("greylist-").FullName;
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
    private readonly SqliteStateStore _store;

    public GreylistTests() => _store = new SqliteStateStore(Path.Combine(_dir, "state.db"), _time);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private Greylist Make(GreylistOptions? o = null) => new(_store, o ?? new GreylistOptions { AutoWhitelistAfter = 0 }, _time);

    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.10");

    [Fact]
    public async Task New_triplet_is_deferred_then_accepted_after_the_delay_and_remembered()
    {
        var g = Make();
        var d1 = await g.CheckAsync(Client, "a@sender.example", "b@rcpt.example", null);
        Assert.True(d1.Deferred);
        Assert.Equal(GreylistReason.New, d1.Reason);
        Assert.Equal("4.7.1 Greylisted, please try again in 300 seconds", d1.ReplyText);

        _time.Advance(TimeSpan.FromMinutes(2));
        var d2 = await g.CheckAsync(Client, "a@sender.example", "b@rcpt.example", null);
        Assert.True(d2.Deferred);
        Assert.Equal(GreylistReason.TooEarly, d2.Reason);
        Assert.Equal(TimeSpan.FromMinutes(3), d2.RetryAfter);

        _time.Advance(TimeSpan.FromMinutes(4));
        var d3 = await g.CheckAsync(Client, "a@sender.example", "b@rcpt.example", null);
        Assert.False(d3.Deferred);
        Assert.Equal(GreylistReason.Retried, d3.Reason);

        _time.Advance(TimeSpan.FromDays(20));
        var d4 = await g.CheckAsync(Client, "a@sender.example", "b@rcpt.example", null);
        Assert.Equal(GreylistReason.Known, d4.Reason);
        Assert.False(d4.Deferred);
    }

    [Fact]
    public async Task Triplet_uses_the_24_network_and_each_part_counts()
    {
        var g = Make();
        Assert.True((await g.CheckAsync(Client, "a@s.example", "b@r.example", null)).Deferred);
        _time.Advance(TimeSpan.FromMinutes(6));
        // A neighbour in the same /24 completes the same triplet.
        Assert.False((await g.CheckAsync(IPAddress.Parse("192.0.2.200"), "A@S.example", "b@r.example", null)).Deferred);
        // Another network, sender or recipient is a new triplet.
        Assert.Equal(GreylistReason.New, (await g.CheckAsync(IPAddress.Parse("192.0.3.10"), "a@s.example", "b@r.example", null)).Reason);
        Assert.Equal(GreylistReason.New, (await g.CheckAsync(Client, "other@s.example", "b@r.example", null)).Reason);
        Assert.Equal(GreylistReason.New, (await g.CheckAsync(Client, "a@s.example", "c@r.example", null)).Reason);
    }

    [Fact]
    public async Task Ipv6_clients_are_grouped_by_64()
    {
        var g = Make();
        Assert.Equal("2001:db8:1:2::/64", g.NetworkOf(IPAddress.Parse("2001:db8:1:2:aaaa::1")));
        Assert.True((await g.CheckAsync(IPAddress.Parse("2001:db8:1:2::1"), "a@s.example", "b@r.example", null)).Deferred);
        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.False((await g.CheckAsync(IPAddress.Parse("2001:db8:1:2:ffff::9"), "a@s.example", "b@r.example", null)).Deferred);
        Assert.True((await g.CheckAsync(IPAddress.Parse("2001:db8:1:3::1"), "a@s.example", "b@r.example", null)).Deferred);
    }

    [Fact]
    public async Task Spf_pass_keys_on_the_sender_domain_so_retries_from_other_addresses_pass()
    {
        var g = Make();
        Assert.True((await g.CheckAsync(IPAddress.Parse("198.51.100.1"), "bounce@big.example", "b@r.example", "big.example")).Deferred);
        _time.Advance(TimeSpan.FromMinutes(10));
        var retry = await g.CheckAsync(IPAddress.Parse("203.0.113.77"), "bounce@big.example", "b@r.example", "big.example");
        Assert.False(retry.Deferred);
        Assert.StartsWith("spf:big.example/", retry.Triplet, StringComparison.Ordinal);
        // Without SPF, the other address would have been a new triplet.
        Assert.True((await g.CheckAsync(IPAddress.Parse("203.0.113.78"), "bounce@big.example", "b@r.example", null)).Deferred);
    }

    [Fact]
    public async Task Retry_after_the_window_starts_over()
    {
        var g = Make(new GreylistOptions { AutoWhitelistAfter = 0, RetryWindow = TimeSpan.FromHours(4) });
        Assert.True((await g.CheckAsync(Client, "a@s.example", "b@r.example", null)).Deferred);
        _time.Advance(TimeSpan.FromHours(5));
        var late = await g.CheckAsync(Client, "a@s.example", "b@r.example", null);
        Assert.True(late.Deferred);
        Assert.Equal(GreylistReason.New, late.Reason);
    }

    [Fact]
    public async Task Passed_triplets_expire_after_their_lifetime_and_are_purged()
    {
        var g = Make(new GreylistOptions { AutoWhitelistAfter = 0, Lifetime = TimeSpan.FromDays(10) });
        await g.CheckAsync(Client, "a@s.example", "b@r.example", null);
        await g.CheckAsync(Client, "x@s.example", "b@r.example", null); // never retried: expires after RetryWindow
        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(GreylistReason.Retried, (await g.CheckAsync(Client, "a@s.example", "b@r.example", null)).Reason);
        _time.Advance(TimeSpan.FromDays(3));
        Assert.Equal(1, await g.PurgeAsync()); // the unretried one
        _time.Advance(TimeSpan.FromDays(11));
        Assert.Equal(1, await g.PurgeAsync()); // the passed one, unused for longer than its lifetime
        Assert.Equal(GreylistReason.New, (await g.CheckAsync(Client, "a@s.example", "b@r.example", null)).Reason);
    }

    [Fact]
    public async Task Client_is_auto_whitelisted_after_n_successful_deliveries()
    {
        var g = Make(new GreylistOptions { AutoWhitelistAfter = 2 });
        for (var i = 0; i < 2; i++)
        {
            Assert.True((await g.CheckAsync(Client, $"s{i}@s.example", "b@r.example", null)).Deferred);
            _time.Advance(TimeSpan.FromMinutes(6));
            Assert.False((await g.CheckAsync(Client, $"s{i}@s.example", "b@r.example", null)).Deferred);
        }
        var fresh = await g.CheckAsync(IPAddress.Parse("192.0.2.99"), "new@other.example", "c@r.example", null);
        Assert.False(fresh.Deferred);
        Assert.Equal(GreylistReason.AutoWhitelisted, fresh.Reason);
        Assert.True((await g.CheckAsync(IPAddress.Parse("192.0.5.1"), "new@other.example", "c@r.example", null)).Deferred);
    }

    [Fact]
    public async Task Whitelists_by_network_sender_domain_and_recipient()
    {
        var g = Make(new GreylistOptions
        {
            AutoWhitelistAfter = 0,
            WhitelistNetworks = [IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("2001:db8::/32")],
            WhitelistSenderDomains = ["trusted.example"],
            WhitelistRecipients = ["postmaster@r.example", "open.example"],
        });
        Assert.Equal(GreylistReason.Whitelisted, (await g.CheckAsync(IPAddress.Parse("10.1.2.3"), "a@s.example", "b@r.example", null)).Reason);
        Assert.Equal(GreylistReason.Whitelisted, (await g.CheckAsync(IPAddress.Parse("2001:db8::5"), "a@s.example", "b@r.example", null)).Reason);
        Assert.Equal(GreylistReason.Whitelisted, (await g.CheckAsync(Client, "a@mail.trusted.example", "b@r.example", null)).Reason);
        Assert.Equal(GreylistReason.Whitelisted, (await g.CheckAsync(Client, "a@s.example", "PostMaster@r.example", null)).Reason);
        Assert.Equal(GreylistReason.Whitelisted, (await g.CheckAsync(Client, "a@s.example", "x@open.example", null)).Reason);
        Assert.True((await g.CheckAsync(Client, "a@untrusted.example", "b@r.example", null)).Deferred);
        Assert.True((await g.CheckAsync(Client, "a@s.example", "b@r.example", null)).Deferred);
    }

    [Theory]
    [InlineData("User+tag123@Example.COM", "user@example.com")]
    [InlineData("prvs=1234abcd=bounce@example.com", "bounce@example.com")]
    [InlineData("", "<>")]
    public void Sender_normalization_removes_per_message_parts(string from, string expected) =>
        Assert.Equal(expected, Greylist.NormalizeSender(from));

    [Fact]
    public void Bad_options_are_refused_naming_the_setting()
    {
        var e = Assert.Throws<ArgumentException>(() => Make(new GreylistOptions { Delay = TimeSpan.FromHours(3), RetryWindow = TimeSpan.FromHours(1) }));
        Assert.Contains("RetryWindow", e.Message, StringComparison.Ordinal);
    }
}
