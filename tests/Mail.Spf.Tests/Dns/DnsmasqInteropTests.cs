using System.Diagnostics;
using System.Net;
using Mail.Core.Ports;
using Mail.Dns;
using Mail.Testing;

namespace Mail.Spf.Tests.Dns;

/// <summary>
/// DnsResolver and SpfChecker against a DNS server we did not write: Debian's dnsmasq on loopback, authoritative
/// (--local) for example.test and 2.0.192.in-addr.arpa, no upstream (other names are REFUSED).
/// </summary>
public sealed class DnsmasqInteropTests : IAsyncLifetime
{
    private const string Program = "/usr/sbin/dnsmasq";
    private Process? _dnsmasq;
    private IPEndPoint _endPoint = null!;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(Program), $"{Program} is missing: apt-get install dnsmasq-base");
        var port = FreePort.TcpAndUdp();
        _endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var psi = new ProcessStartInfo(Program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     $"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-daemon",
                     "--conf-file=/dev/null", "--pid-file=", $"--user={Environment.UserName}", "--cache-size=0",
                     "--local=/example.test/", "--local=/2.0.192.in-addr.arpa/",
                     "--host-record=mail.example.test,192.0.2.10,2001:db8::10",
                     "--mx-host=example.test,mail.example.test,10",
                     "--txt-record=example.test,v=spf1 mx ,include:_spf.example.test -all",
                     "--txt-record=_spf.example.test,v=spf1 ip4:198.51.100.0/24 -all",
                     "--ptr-record=10.2.0.192.in-addr.arpa,mail.example.test",
                 })
            psi.ArgumentList.Add(a);
        _dnsmasq = Process.Start(psi) ?? throw new InvalidOperationException("dnsmasq did not start");
        _dnsmasq.OutputDataReceived += (_, _) => { };
        _dnsmasq.ErrorDataReceived += (_, _) => { };
        _dnsmasq.BeginOutputReadLine();
        _dnsmasq.BeginErrorReadLine();
        // Ready when it answers (bounded: 50 x 100 ms).
        var probe = Resolver();
        for (var i = 0; i < 50; i++)
        {
            Assert.False(_dnsmasq.HasExited, "dnsmasq exited at start");
            if ((await probe.AAsync("mail.example.test")).Status == DnsStatus.Ok) return;
            await Task.Delay(100);
        }
        throw new TimeoutException("dnsmasq did not answer within 5 s");
    }

    public async Task DisposeAsync()
    {
        if (_dnsmasq is null) return;
        if (!_dnsmasq.HasExited)
        {
            _dnsmasq.Kill();
            await _dnsmasq.WaitForExitAsync();
        }
        _dnsmasq.Dispose();
    }

    private DnsResolver Resolver() => new(new DnsResolverOptions { NameServers = [_endPoint], Timeout = TimeSpan.FromSeconds(1), Retries = 1 });

    [Fact]
    public async Task Resolver_reads_dnsmasq_answers()
    {
        var dns = Resolver();

        Assert.Equal(IPAddress.Parse("192.0.2.10"), Assert.Single((await dns.AAsync("mail.example.test")).Records));
        Assert.Equal(IPAddress.Parse("2001:db8::10"), Assert.Single((await dns.AaaaAsync("mail.example.test")).Records));
        Assert.Equal(new MxRecord(10, "mail.example.test"), Assert.Single((await dns.MxAsync("example.test")).Records));
        Assert.Equal("v=spf1 mx include:_spf.example.test -all", Assert.Single((await dns.TxtAsync("example.test")).Records));
        Assert.Equal("mail.example.test", Assert.Single((await dns.PtrAsync(IPAddress.Parse("192.0.2.10"))).Records));
    }

    [Fact]
    public async Task Resolver_maps_dnsmasq_negative_answers()
    {
        var dns = Resolver();

        Assert.Equal(DnsStatus.NxDomain, (await dns.AAsync("nosuch.example.test")).Status);
        Assert.Equal(DnsStatus.NoData, (await dns.TxtAsync("mail.example.test")).Status);
        Assert.Equal(DnsStatus.Failed, (await dns.AAsync("outside.example.org")).Status); // REFUSED
    }

    [Theory]
    [InlineData("192.0.2.10", SpfResultCode.Pass, "mx")]
    [InlineData("198.51.100.7", SpfResultCode.Pass, "include:_spf.example.test")]
    [InlineData("203.0.113.1", SpfResultCode.Fail, "-all")]
    public async Task Spf_over_dnsmasq(string client, SpfResultCode expected, string mechanism)
    {
        var r = await new SpfChecker(Resolver()).CheckMailFromAsync(IPAddress.Parse(client), "someone@example.test", "mail.example.test");

        Assert.Equal(expected, r.Code);
        Assert.Equal(mechanism, r.Mechanism);
    }
}
