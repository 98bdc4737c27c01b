using System.Net;
using Mail.Dns;
using Mail.Testing.Dns;

namespace Mail.Smtp.Tests;

/// <summary>
/// A dual-stack listener ([::]) sees an IPv4 client as ::ffff:a.b.c.d. The listener hands the session the IPv4 address
/// (Mail.Core.Listening.ClientAddress), so the rate limiter, FCrDNS and the envelope see 127.0.0.1, over a real
/// socket connected to 127.0.0.1.
/// </summary>
public sealed class DualStackTests
{
    [Fact]
    public async Task An_IPv4_client_of_a_dual_stack_listener_is_counted_reverse_resolved_and_recorded_as_IPv4()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.Add("1.0.0.127.in-addr.arpa", DnsRecordType.PTR, "client.example.net");
        dns.Add("client.example.net", DnsRecordType.A, "127.0.0.1");
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [dns.EndPoint], Timeout = TimeSpan.FromSeconds(3), Retries = 0, UseCache = false });
        await using var s = await SmtpTestServer.StartAsync(o =>
        {
            o.Listeners.First(l => l.Name == "mx").Endpoint = "[::]:0";
            o.RateLimits.ConnectionsPerClient = 100;
            o.ReverseDnsTimeout = TimeSpan.FromSeconds(10);
        }, dns: resolver);

        using (var c = RawSmtpClient.Connect(new IPEndPoint(IPAddress.Loopback, s.Mx.Port)))
        {
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            await c.EhloAsync("helo.client.test");
            Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<x@other.test>")).Code);
            Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await c.CommandAsync("Subject: dual stack\r\n\r\nx\r\n.")).Code);
        }

        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("127.0.0.1", env.Client.Address);
        // A mapped address would have asked for an ip6.arpa PTR and found none.
        Assert.Equal("pass", env.ConnectionResults["fcrdns"]);
        Assert.Equal("client.example.net", env.Client.ReverseName);
        Assert.Contains("Received: from helo.client.test (client.example.net [127.0.0.1])", await s.ReadMessageAsync(env.MessageRef));
        var keys = new List<string>();
        await foreach (var e in s.State.ListAsync("smtp-rate")) keys.Add(e.Key);
        Assert.Contains(keys, k => k.StartsWith("connections/ip/127.0.0.1/", StringComparison.Ordinal));
        Assert.DoesNotContain(keys, k => k.Contains("ffff", StringComparison.OrdinalIgnoreCase));
    }
}
