using System.Net;
using Mail.Core.SmtpPolicy;
using Mail.Defences.DnsChecks;
using Mail.Dns;
using Mail.Testing.Dns;

namespace Mail.Defences.Tests;

/// <summary>DNSBL/RHSBL against Debian dnsmasq on loopback serving RFC 5782 test entries.</summary>
public sealed class DnsblFixture : IAsyncLifetime
{
    public Dnsmasq Server { get; private set; } = null!;

    public static readonly string V6Listed = DnsblClient.ReversedLabels(IPAddress.Parse("2001:db8::2"));

    public async Task InitializeAsync() => Server = await Dnsmasq.StartAsync(
        ["bl.test", "other.test", "wl.test", "rhs.test"],
        [
            // bl.test: RFC 5782 test entries 127.0.0.2 listed (with TXT), 127.0.0.1 not; 127.0.0.10 listed with another code.
            "--address=/2.0.0.127.bl.test/127.0.0.2", "--txt-record=2.0.0.127.bl.test,Listed for testing - see https://bl.test/2",
            "--address=/10.0.0.127.bl.test/127.0.0.10",
            "--address=/20.0.0.127.bl.test/127.0.1.1",
            $"--address=/{V6Listed}.bl.test/127.0.0.2",
            "--address=/2.0.0.127.other.test/127.0.0.4",
            "--address=/2.0.0.127.wl.test/127.0.10.2",
            // rhs.test: RFC 5782 domain test entries: TEST listed, INVALID not.
            "--address=/test.rhs.test/127.0.0.2", "--txt-record=test.rhs.test,domain listed",
        ]);

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class DnsblTests(DnsblFixture fx) : IClassFixture<DnsblFixture>
{
    private static readonly IPAddress Listed = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress NotListed = IPAddress.Parse("127.0.0.1");

    private DnsblClient Client => new(fx.Server.Resolver());

    [Fact]
    public async Task Rfc5782_test_entries_listed_and_not_listed_with_txt_reason()
    {
        var site = DnsblSite.Parse("bl.test");
        var listed = await Client.LookupAddressAsync(site, Listed);
        Assert.Equal(DnsblStatus.Listed, listed.Status);
        Assert.Equal("2.0.0.127.bl.test", listed.Query);
        Assert.Equal("Listed for testing - see https://bl.test/2", listed.Text);
        Assert.Equal(DnsblStatus.NotListed, (await Client.LookupAddressAsync(site, NotListed)).Status);
    }

    [Fact]
    public async Task Ipv6_clients_are_looked_up_by_reversed_nibbles()
    {
        Assert.StartsWith("2.0.0.0.0.0.0.0", DnsblFixture.V6Listed, StringComparison.Ordinal);
        Assert.EndsWith("8.b.d.0.1.0.0.2", DnsblFixture.V6Listed, StringComparison.Ordinal);
        var site = DnsblSite.Parse("bl.test");
        Assert.True((await Client.LookupAddressAsync(site, IPAddress.Parse("2001:db8::2"))).IsListed);
        Assert.False((await Client.LookupAddressAsync(site, IPAddress.Parse("2001:db8::3"))).IsListed);
    }

    [Theory]
    [InlineData("bl.test=127.0.0.[2..11]", "127.0.0.10", true)]
    [InlineData("bl.test=127.0.0.[2..11]", "127.0.0.20", false)]   // reply 127.0.1.1 outside the pattern
    [InlineData("bl.test=127.0.0.2", "127.0.0.10", false)]
    [InlineData("bl.test=127.0.0.[3;10;11]", "127.0.0.10", true)]
    [InlineData("bl.test=127.0.[0..1].[1;2]", "127.0.0.20", true)]
    [InlineData("bl.test&0.0.0.8", "127.0.0.10", true)]            // 10 = 0b1010
    [InlineData("bl.test&0.0.0.4", "127.0.0.10", false)]
    [InlineData("bl.test", "127.0.0.20", true)]                     // no pattern: any 127/8 reply
    public async Task Reply_patterns_select_which_codes_count(string site, string client, bool listed) =>
        Assert.Equal(listed, (await Client.LookupAddressAsync(DnsblSite.Parse(site), IPAddress.Parse(client))).IsListed);

    [Fact]
    public async Task Rhsbl_lists_domains_test_listed_invalid_not()
    {
        var site = DnsblSite.Parse("rhs.test");
        var r = await Client.LookupDomainAsync(site, "TEST.");
        Assert.True(r.IsListed);
        Assert.Equal("test.rhs.test", r.Query);
        Assert.Equal("domain listed", r.Text);
        Assert.False((await Client.LookupDomainAsync(site, "invalid")).IsListed);
    }

    [Fact]
    public async Task A_list_that_does_not_answer_is_a_temporary_failure_not_a_listing()
    {
        // dnsmasq is not authoritative for down.example and has no upstream: it refuses.
        var r = await Client.LookupAddressAsync(DnsblSite.Parse("down.example"), Listed);
        Assert.Equal(DnsblStatus.TempFail, r.Status);
    }

    [Fact]
    public async Task Weighted_score_across_lists_like_postscreen_dnsbl_sites()
    {
        var sites = "bl.test*3 other.test=127.0.0.4*2 wl.test=127.0.[0..255].[1..3]*-1 down.example*5"
            .Split(' ').Select(DnsblSite.Parse).ToList();
        var score = await Client.ScoreAsync(sites, Listed);
        Assert.Equal(3 + 2 - 1, score.Score);
        Assert.Equal(["bl.test", "other.test", "wl.test"], score.Listed.Select(r => r.Site.Zone));
        Assert.Equal(DnsblStatus.TempFail, score.Results.Single(r => r.Site.Zone == "down.example").Status);
        Assert.Equal(0, (await Client.ScoreAsync(sites, NotListed)).Score);
    }

    [Fact]
    public async Task Postscreen_style_threshold_and_allowlist_threshold()
    {
        var resolver = fx.Server.Resolver();
        var blocking = new DnsblScoring(resolver, new DnsblScoringOptions { Sites = DnsblScoringOptions.ParseSites("bl.test*2, other.test*1"), Threshold = 3 });
        var r = await blocking.CheckAsync(Listed);
        Assert.Equal(3, r.Score);
        Assert.True(r.Blocked);
        Assert.Equal("Service unavailable; client [127.0.0.2] blocked using bl.test, other.test", r.ReplyText(Listed));
        var lenient = new DnsblScoring(resolver, new DnsblScoringOptions { Sites = DnsblScoringOptions.ParseSites("bl.test*2"), Threshold = 3 });
        Assert.False((await lenient.CheckAsync(Listed)).Blocked);
        var allow = new DnsblScoring(resolver, new DnsblScoringOptions { Sites = DnsblScoringOptions.ParseSites("bl.test*1 wl.test*-3"), AllowlistThreshold = -1 });
        var a = await allow.CheckAsync(Listed);
        Assert.Equal(-2, a.Score);
        Assert.True(a.Allowlisted);
        Assert.False(a.Blocked);
        Assert.Throws<ArgumentException>(() => new DnsblScoring(resolver, new DnsblScoringOptions { Threshold = 0 }));
    }

    [Theory]
    [InlineData("bl.test=127.0.0")]
    [InlineData("bl.test=127.0.0.[2..]")]
    [InlineData("bl.test=127.0.0.300")]
    [InlineData("bl.test*x")]
    [InlineData("bl.test&banana")]
    [InlineData("=127.0.0.2")]
    [InlineData("nodots")]
    public void Bad_site_syntax_is_refused_naming_the_site(string text)
    {
        var e = Assert.Throws<FormatException>(() => DnsblSite.Parse(text));
        Assert.Contains(text, e.Message, StringComparison.Ordinal);
    }
}

/// <summary>FCrDNS against helper C's TestDnsServer on loopback (it can answer SERVFAIL, which dnsmasq cannot be told to).</summary>
public sealed class ClientHostnameTests : IAsyncLifetime
{
    private TestDnsServer _dns = null!;

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        _dns.Add("1.2.0.192.in-addr.arpa", DnsRecordType.PTR, "good.example");
        _dns.Add("good.example", DnsRecordType.A, "192.0.2.1");
        _dns.Add("3.2.0.192.in-addr.arpa", DnsRecordType.PTR, "noaddr.example");
        _dns.Add("4.2.0.192.in-addr.arpa", DnsRecordType.PTR, "other.example");
        _dns.Add("other.example", DnsRecordType.A, "192.0.2.99");
        _dns.SetServFail("5.2.0.192.in-addr.arpa");
        _dns.Add("6.2.0.192.in-addr.arpa", DnsRecordType.PTR, "flaky.example");
        _dns.SetServFail("flaky.example");
        _dns.Add("7.2.0.192.in-addr.arpa", DnsRecordType.PTR, "first.example");
        _dns.Add("7.2.0.192.in-addr.arpa", DnsRecordType.PTR, "second.example");
        _dns.Add("first.example", DnsRecordType.A, "192.0.2.70");
        _dns.Add("second.example", DnsRecordType.A, "192.0.2.7");
        _dns.Add(DnsResolver.ReverseName(IPAddress.Parse("2001:db8::1")), DnsRecordType.PTR, "v6.example");
        _dns.Add("v6.example", DnsRecordType.AAAA, "2001:db8::1");
        _dns.Add("v6.example", DnsRecordType.A, "192.0.2.1");
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    private Task<ClientHostnameResult> Resolve(string ip) =>
        new ClientHostname(new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], UseCache = false, Timeout = TimeSpan.FromSeconds(3), Retries = 1 }))
            .ResolveAsync(IPAddress.Parse(ip));

    [Theory]
    [InlineData("192.0.2.1", ClientHostnameStatus.Verified, "good.example", "good.example")]
    [InlineData("::ffff:192.0.2.1", ClientHostnameStatus.Verified, "good.example", "good.example")]
    [InlineData("192.0.2.2", ClientHostnameStatus.NoPtr, null, null)]
    [InlineData("192.0.2.3", ClientHostnameStatus.NoForward, "noaddr.example", null)]
    [InlineData("192.0.2.4", ClientHostnameStatus.Mismatch, "other.example", null)]
    [InlineData("192.0.2.5", ClientHostnameStatus.TempFail, null, null)]
    [InlineData("192.0.2.6", ClientHostnameStatus.TempFail, "flaky.example", null)]
    [InlineData("192.0.2.7", ClientHostnameStatus.Verified, "first.example", "second.example")]
    [InlineData("2001:db8::1", ClientHostnameStatus.Verified, "v6.example", "v6.example")]
    public async Task Forward_confirmed_reverse_dns(string ip, ClientHostnameStatus status, string? reverse, string? verified)
    {
        var r = await Resolve(ip);
        Assert.Equal(status, r.Status);
        Assert.Equal(reverse, r.ReverseName);
        Assert.Equal(verified, r.VerifiedName);
    }

    [Fact]
    public async Task Reverse_temp_failure_is_flagged_separately_from_a_forward_one()
    {
        Assert.True((await Resolve("192.0.2.5")).ReverseTempFail);
        Assert.False((await Resolve("192.0.2.6")).ReverseTempFail);
    }
}
