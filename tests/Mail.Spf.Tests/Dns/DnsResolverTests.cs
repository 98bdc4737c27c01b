using System.Net;
using System.Net.Sockets;
using Mail.Core.Ports;
using Mail.Dns;
using Mail.Testing;
using Mail.Testing.Dns;

namespace Mail.Spf.Tests.Dns;

/// <summary>The real DnsResolver (DnsClient underneath) against the real loopback TestDnsServer.</summary>
public sealed class DnsResolverTests : IAsyncLifetime
{
    private TestDnsServer _server = null!;
    private readonly ManualTimeProvider _clock = new();

    public async Task InitializeAsync() => _server = await TestDnsServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    // Generous timeout and one retry so a busy CI machine never turns a slow answer into a false failure; tests that
    // expect a timeout pass a short one (a slow answer there still ends as the expected failure).
    private DnsResolver Resolver(bool cache = true, bool tcpFallback = true, TimeSpan? timeout = null) => new(new DnsResolverOptions
    {
        NameServers = [_server.EndPoint],
        Timeout = timeout ?? TimeSpan.FromSeconds(2),
        Retries = timeout is null ? 1 : 0,
        UseCache = cache,
        UseTcpFallback = tcpFallback,
        NegativeCacheTtl = TimeSpan.FromSeconds(30),
    }, _clock);

    [Fact]
    public async Task A_and_AAAA_records_are_returned()
    {
        _server.Add("host.example.com", DnsRecordType.A, "192.0.2.1");
        _server.Add("host.example.com", DnsRecordType.A, "192.0.2.2");
        _server.Add("host.example.com", DnsRecordType.AAAA, "2001:db8::1");
        var dns = Resolver();

        var a = await dns.AAsync("host.example.com");
        var aaaa = await dns.AaaaAsync("HOST.example.com.");

        Assert.Equal(DnsStatus.Ok, a.Status);
        Assert.Equal([IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.2")], a.Records.OrderBy(x => x.ToString()));
        Assert.Equal(DnsStatus.Ok, aaaa.Status);
        Assert.Equal(IPAddress.Parse("2001:db8::1"), Assert.Single(aaaa.Records));
    }

    [Fact]
    public async Task Mx_exchange_has_no_trailing_dot()
    {
        _server.Add("example.com", DnsRecordType.MX, "10 mx1.example.com");
        _server.Add("example.com", DnsRecordType.MX, "20 mx2.example.com.");

        var mx = await Resolver().MxAsync("example.com");

        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.Equal([new MxRecord(10, "mx1.example.com"), new MxRecord(20, "mx2.example.com")], mx.Records.OrderBy(m => m.Preference));
    }

    [Fact]
    public async Task Txt_strings_of_one_record_are_joined_without_separator()
    {
        _server.AddTxt("example.com", ["v=spf1 ip4:192.0.2.0/24", " -all"]);
        _server.Add("example.com", DnsRecordType.TXT, "other record");

        var txt = await Resolver().TxtAsync("example.com");

        Assert.Equal(DnsStatus.Ok, txt.Status);
        Assert.Equal(["other record", "v=spf1 ip4:192.0.2.0/24 -all"], txt.Records.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Txt_longer_than_255_bytes_comes_back_whole()
    {
        var text = "v=spf1 " + string.Join(' ', Enumerable.Range(1, 40).Select(i => $"ip4:198.51.100.{i}")) + " -all";
        Assert.True(text.Length > 255);
        _server.Add("long.example.com", DnsRecordType.TXT, text);

        var txt = await Resolver().TxtAsync("long.example.com");

        Assert.Equal(text, Assert.Single(txt.Records));
    }

    [Fact]
    public async Task Ptr_builds_reverse_names_for_ipv4_and_ipv6()
    {
        _server.Add("1.2.0.192.in-addr.arpa", DnsRecordType.PTR, "mail.example.com.");
        _server.Add(DnsResolver.ReverseName(IPAddress.Parse("2001:db8::2")), DnsRecordType.PTR, "mail6.example.com");
        var dns = Resolver();

        var v4 = await dns.PtrAsync(IPAddress.Parse("192.0.2.1"));
        var v6 = await dns.PtrAsync(IPAddress.Parse("2001:db8::2"));

        Assert.Equal("mail.example.com", Assert.Single(v4.Records));
        Assert.Equal("mail6.example.com", Assert.Single(v6.Records));
        Assert.Equal("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", DnsResolver.ReverseName(IPAddress.Parse("2001:db8::2")));
        Assert.Equal("1.2.0.192.in-addr.arpa", DnsResolver.ReverseName(IPAddress.Parse("::ffff:192.0.2.1")));
    }

    [Fact]
    public async Task Unknown_name_is_NxDomain()
    {
        _server.Add("example.com", DnsRecordType.A, "192.0.2.1");

        var r = await Resolver().AAsync("nosuch.example.com");

        Assert.Equal(DnsStatus.NxDomain, r.Status);
        Assert.True(r.IsEmpty);
    }

    [Fact]
    public async Task Explicit_NxDomain_wins_over_records()
    {
        _server.Add("gone.example.com", DnsRecordType.A, "192.0.2.1");
        _server.SetNxDomain("gone.example.com");

        Assert.Equal(DnsStatus.NxDomain, (await Resolver().AAsync("gone.example.com")).Status);
    }

    [Fact]
    public async Task Name_without_records_of_the_type_is_NoData()
    {
        _server.Add("example.com", DnsRecordType.A, "192.0.2.1");
        var dns = Resolver();

        var txt = await dns.TxtAsync("example.com");
        var mx = await dns.MxAsync("example.com");

        Assert.Equal(DnsStatus.NoData, txt.Status);
        Assert.Equal(DnsStatus.NoData, mx.Status);
        Assert.Empty(txt.Records);
    }

    [Fact]
    public async Task ServFail_is_Failed()
    {
        _server.Add("broken.example.com", DnsRecordType.A, "192.0.2.1");
        _server.SetServFail("broken.example.com");

        var r = await Resolver().AAsync("broken.example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
        Assert.False(r.IsEmpty);
        Assert.NotNull(r.Error);
    }

    [Fact]
    public async Task Refused_is_Failed()
    {
        _server.Add("closed.example.com", DnsRecordType.A, "192.0.2.1");
        _server.SetRefused("closed.example.com");

        var r = await Resolver().AAsync("closed.example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
        Assert.Contains("Refused", r.Error);
    }

    [Theory]
    [InlineData(1)] // FORMERR
    [InlineData(4)] // NOTIMP
    public async Task Other_error_codes_are_Failed(int rcode)
    {
        _server.Add("odd.example.com", DnsRecordType.A, "192.0.2.1");
        _server.SetResponseCode("odd.example.com", rcode);

        var r = await Resolver().AAsync("odd.example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
    }

    [Fact]
    public async Task Wildcards_answer_names_that_do_not_exist()
    {
        _server.Add("*.dnsbl.example", DnsRecordType.A, "127.0.0.2");
        _server.Add("listed.dnsbl.example", DnsRecordType.TXT, "exact");
        var dns = Resolver();

        var wild = await dns.AAsync("4.3.2.1.dnsbl.example");
        var exactName = await dns.AAsync("listed.dnsbl.example");

        Assert.Equal(IPAddress.Parse("127.0.0.2"), Assert.Single(wild.Records));
        Assert.Equal(DnsStatus.NoData, exactName.Status);
    }

    [Fact]
    public async Task Timeout_per_type_leaves_other_types_answered()
    {
        _server.Add("half.example.com", DnsRecordType.A, "192.0.2.1");
        _server.Add("half.example.com", DnsRecordType.TXT, "x");
        _server.SetTimeout("half.example.com", DnsRecordType.TXT);

        Assert.Equal(DnsStatus.Ok, (await Resolver().AAsync("half.example.com")).Status);
        Assert.Equal(DnsStatus.Failed, (await Resolver(timeout: TimeSpan.FromMilliseconds(300)).TxtAsync("half.example.com")).Status);
    }

    [Fact]
    public async Task Timeout_is_Failed()
    {
        _server.Add("slow.example.com", DnsRecordType.TXT, "x");
        _server.SetTimeout("slow.example.com");

        var r = await Resolver(timeout: TimeSpan.FromMilliseconds(300)).TxtAsync("slow.example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
        Assert.True(_server.QueryCount("slow.example.com", DnsRecordType.TXT) >= 1);
    }

    [Fact]
    public async Task Network_error_is_Failed()
    {
        // A loopback port nobody listens on: UDP gets "port unreachable", TCP "connection refused".
        var port = FreePort.TcpAndUdp();
        var dns = new DnsResolver(new DnsResolverOptions
        {
            NameServers = [new IPEndPoint(IPAddress.Loopback, port)],
            Timeout = TimeSpan.FromMilliseconds(300),
            Retries = 0,
        });

        var r = await dns.AAsync("example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
    }

    [Fact]
    public async Task Malformed_answer_is_Failed()
    {
        // A hand-rolled UDP responder that answers with a header promising an answer record that is not there.
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var endPoint = (IPEndPoint)udp.Client.LocalEndPoint!;
        var responder = Task.Run(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            for (var i = 0; i < 4; i++)
            {
                UdpReceiveResult q;
                try
                {
                    q = await udp.ReceiveAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                var reply = new byte[] { q.Buffer[0], q.Buffer[1], 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0 };
                await udp.SendAsync(reply, q.RemoteEndPoint, cts.Token);
            }
        });
        var dns = new DnsResolver(new DnsResolverOptions { NameServers = [endPoint], Timeout = TimeSpan.FromSeconds(1), Retries = 0, UseTcpFallback = false });

        var r = await dns.AAsync("example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
        Assert.StartsWith("A example.com: ", r.Error);
        udp.Close();
        await responder.WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { });
    }

    [Fact]
    public async Task Cnames_are_followed()
    {
        _server.Add("alias.example.com", DnsRecordType.CNAME, "real.example.com");
        _server.Add("real.example.com", DnsRecordType.A, "192.0.2.7");

        var r = await Resolver().AAsync("alias.example.com");

        Assert.Equal(IPAddress.Parse("192.0.2.7"), Assert.Single(r.Records));
    }

    [Fact]
    public async Task Answer_stopping_at_a_cname_is_followed_by_the_resolver()
    {
        _server.FollowCnames = false;
        _server.Add("alias.example.com", DnsRecordType.CNAME, "real.example.com");
        _server.Add("real.example.com", DnsRecordType.TXT, "v=spf1 -all");

        var r = await Resolver().TxtAsync("alias.example.com");

        Assert.Equal("v=spf1 -all", Assert.Single(r.Records));
        Assert.Equal(1, _server.QueryCount("real.example.com", DnsRecordType.TXT));
    }

    [Fact]
    public async Task Cname_loop_is_Failed()
    {
        _server.FollowCnames = false;
        _server.Add("loop1.example.com", DnsRecordType.CNAME, "loop2.example.com");
        _server.Add("loop2.example.com", DnsRecordType.CNAME, "loop1.example.com");

        var r = await Resolver().AAsync("loop1.example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
        Assert.Contains("CNAME loop", r.Error);
    }

    [Fact]
    public async Task Positive_answer_is_cached_for_its_ttl_then_refreshed()
    {
        _server.Add("cached.example.com", DnsRecordType.A, "192.0.2.1", ttl: 60);
        var dns = Resolver();

        await dns.AAsync("cached.example.com");
        _clock.Advance(TimeSpan.FromSeconds(59));
        var again = await dns.AAsync("Cached.Example.com");
        Assert.Equal(DnsStatus.Ok, again.Status);
        Assert.Equal(1, _server.QueryCount("cached.example.com", DnsRecordType.A));

        _clock.Advance(TimeSpan.FromSeconds(2));
        await dns.AAsync("cached.example.com");
        Assert.Equal(2, _server.QueryCount("cached.example.com", DnsRecordType.A));
    }

    [Fact]
    public async Task Cache_stays_within_MaxCacheEntries()
    {
        for (var i = 0; i < 5; i++) _server.Add($"h{i}.example.com", DnsRecordType.A, "192.0.2.1", ttl: 600);
        var dns = new DnsResolver(new DnsResolverOptions { NameServers = [_server.EndPoint], Timeout = TimeSpan.FromSeconds(1), Retries = 0, MaxCacheEntries = 3 }, _clock);

        for (var i = 0; i < 5; i++) Assert.Equal(DnsStatus.Ok, (await dns.AAsync($"h{i}.example.com")).Status);

        Assert.InRange(dns.CachedEntries, 1, 3);
        await dns.AAsync("h4.example.com");
        Assert.Equal(1, _server.QueryCount("h4.example.com", DnsRecordType.A)); // the newest answer survived the purge
    }

    [Fact]
    public async Task Cache_off_asks_every_time()
    {
        _server.Add("nocache.example.com", DnsRecordType.A, "192.0.2.1", ttl: 3600);
        var dns = Resolver(cache: false);

        await dns.AAsync("nocache.example.com");
        await dns.AAsync("nocache.example.com");

        Assert.Equal(2, _server.QueryCount("nocache.example.com", DnsRecordType.A));
    }

    [Fact]
    public async Task NxDomain_is_cached_for_the_soa_minimum()
    {
        _server.Add("example.com", DnsRecordType.SOA, "ns.example.com hostmaster.example.com 1 3600 600 86400 10", ttl: 300);
        var dns = Resolver();

        Assert.Equal(DnsStatus.NxDomain, (await dns.AAsync("missing.example.com")).Status);
        _clock.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(DnsStatus.NxDomain, (await dns.AAsync("missing.example.com")).Status);
        Assert.Equal(1, _server.QueryCount("missing.example.com", DnsRecordType.A));

        _clock.Advance(TimeSpan.FromSeconds(2));
        _server.Add("missing.example.com", DnsRecordType.A, "192.0.2.9");
        Assert.Equal(DnsStatus.Ok, (await dns.AAsync("missing.example.com")).Status);
        Assert.Equal(2, _server.QueryCount("missing.example.com", DnsRecordType.A));
    }

    [Fact]
    public async Task NoData_without_soa_is_cached_for_NegativeCacheTtl()
    {
        _server.Add("nodata.example.org", DnsRecordType.A, "192.0.2.1");
        var dns = Resolver();

        Assert.Equal(DnsStatus.NoData, (await dns.TxtAsync("nodata.example.org")).Status);
        _clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(DnsStatus.NoData, (await dns.TxtAsync("nodata.example.org")).Status);
        Assert.Equal(1, _server.QueryCount("nodata.example.org", DnsRecordType.TXT));

        _clock.Advance(TimeSpan.FromSeconds(2));
        await dns.TxtAsync("nodata.example.org");
        Assert.Equal(2, _server.QueryCount("nodata.example.org", DnsRecordType.TXT));
    }

    [Fact]
    public async Task Failures_are_not_cached()
    {
        _server.SetServFail("flaky.example.com");
        var dns = Resolver();

        Assert.Equal(DnsStatus.Failed, (await dns.AAsync("flaky.example.com")).Status);
        var afterFirst = _server.QueryCount("flaky.example.com", DnsRecordType.A); // DnsClient may retry a SERVFAIL
        Assert.Equal(DnsStatus.Failed, (await dns.AAsync("flaky.example.com")).Status);

        Assert.True(afterFirst >= 1);
        Assert.Equal(2 * afterFirst, _server.QueryCount("flaky.example.com", DnsRecordType.A));
        Assert.Equal(0, dns.CachedEntries);
    }

    [Fact]
    public async Task Truncated_udp_answer_is_repeated_over_tcp()
    {
        _server.MaxUdpPayload = 512;
        var strings = Enumerable.Range(0, 6).Select(i => new string((char)('a' + i), 200)).ToArray();
        _server.AddTxt("big.example.com", strings);

        var r = await Resolver().TxtAsync("big.example.com");

        Assert.Equal(DnsStatus.Ok, r.Status);
        Assert.Equal(string.Concat(strings), Assert.Single(r.Records));
        Assert.True(_server.TcpQueries >= 1);
    }

    [Fact]
    public async Task Truncated_answer_without_tcp_fallback_is_Failed_not_NoData()
    {
        _server.MaxUdpPayload = 512;
        _server.AddTxt("big.example.com", [new string('x', 1000)]);

        var r = await Resolver(tcpFallback: false).TxtAsync("big.example.com");

        Assert.Equal(DnsStatus.Failed, r.Status);
        Assert.Equal(0, _server.TcpQueries);
    }

    [Fact]
    public async Task Invalid_names_are_NxDomain_without_a_query()
    {
        var r = await Resolver().AAsync(new string('a', 64) + ".example.com");

        Assert.Equal(DnsStatus.NxDomain, r.Status);
        Assert.Equal(0, _server.TotalQueries);
    }

    [Fact]
    public void Bad_options_are_refused_naming_the_setting()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DnsResolver(new DnsResolverOptions { Timeout = TimeSpan.Zero }));
        Assert.Contains("Timeout", e.Message);
    }
}
