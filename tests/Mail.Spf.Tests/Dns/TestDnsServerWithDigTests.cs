using Mail.Testing;
using Mail.Testing.Dns;

namespace Mail.Spf.Tests.Dns;

/// <summary>
/// The hand-written TestDnsServer checked by an independent client, ISC dig (Debian dnsutils), so its wire format is
/// not only "what our own resolver accepts".
/// </summary>
public sealed class TestDnsServerWithDigTests : IAsyncLifetime
{
    private const string Dig = "/usr/bin/dig";
    private TestDnsServer _server = null!;

    public async Task InitializeAsync() => _server = await TestDnsServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<string> DigAsync(params string[] args)
    {
        Assert.True(File.Exists(Dig), $"{Dig} is missing: apt-get install dnsutils");
        var r = await ExternalProcess.RunAsync(Dig,
            [$"@{_server.EndPoint.Address}", "-p", _server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=3", "+tries=2", .. args],
            timeout: TimeSpan.FromSeconds(20));
        Assert.True(r.ExitCode == 0, $"dig exited {r.ExitCode}: {r.StdOut}{r.StdErr}");
        Assert.DoesNotContain("malformed", r.StdOut + r.StdErr, StringComparison.OrdinalIgnoreCase);
        return r.StdOut;
    }

    [Fact]
    public async Task Dig_reads_every_record_type()
    {
        _server.Add("example.com", DnsRecordType.A, "192.0.2.1");
        _server.Add("example.com", DnsRecordType.AAAA, "2001:db8::1");
        _server.Add("example.com", DnsRecordType.MX, "10 mx.example.com");
        _server.AddTxt("example.com", ["v=spf1 ", "-all"]);
        _server.Add("1.2.0.192.in-addr.arpa", DnsRecordType.PTR, "host.example.com");
        _server.Add("www.example.com", DnsRecordType.CNAME, "example.com");
        _server.Add("example.com", DnsRecordType.SPF, "v=spf1 -all");

        Assert.Equal("192.0.2.1", (await DigAsync("example.com", "A", "+short")).Trim());
        Assert.Equal("2001:db8::1", (await DigAsync("example.com", "AAAA", "+short")).Trim());
        Assert.Equal("10 mx.example.com.", (await DigAsync("example.com", "MX", "+short")).Trim());
        Assert.Equal("\"v=spf1 \" \"-all\"", (await DigAsync("example.com", "TXT", "+short")).Trim());
        Assert.Equal("host.example.com.", (await DigAsync("-x", "192.0.2.1", "+short")).Trim());
        Assert.Equal("example.com.\n192.0.2.1", (await DigAsync("www.example.com", "A", "+short")).Trim());
        Assert.Contains("v=spf1 -all", await DigAsync("example.com", "TYPE99"));
    }

    [Fact]
    public async Task Dig_sees_nxdomain_nodata_servfail_and_the_soa()
    {
        _server.Add("example.com", DnsRecordType.SOA, "ns.example.com hostmaster.example.com 1 3600 600 86400 60");
        _server.Add("host.example.com", DnsRecordType.A, "192.0.2.1");
        _server.SetServFail("broken.example.com");

        var nx = await DigAsync("nosuch.example.com", "A");
        var nodata = await DigAsync("host.example.com", "TXT");
        var servfail = await DigAsync("broken.example.com", "A");

        Assert.Contains("status: NXDOMAIN", nx);
        Assert.Contains("SOA", nx);
        Assert.Contains("status: NOERROR", nodata);
        Assert.Contains("ANSWER: 0", nodata);
        Assert.Contains("status: SERVFAIL", servfail);
    }

    [Fact]
    public async Task Long_answer_is_truncated_over_udp_and_whole_over_tcp()
    {
        var strings = Enumerable.Range(0, 4).Select(i => new string((char)('a' + i), 250)).ToArray();
        _server.AddTxt("big.example.com", strings);

        var udp = await DigAsync("big.example.com", "TXT", "+noedns", "+ignore");
        var tcp = await DigAsync("big.example.com", "TXT", "+tcp", "+short");

        Assert.Contains(" tc", udp.Split('\n').Single(l => l.Contains("flags:", StringComparison.Ordinal)));
        Assert.Contains(new string('d', 250), tcp);
        Assert.True(_server.TcpQueries >= 1);
    }
}
