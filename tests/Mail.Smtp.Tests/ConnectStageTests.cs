using System.Net;
using Mail.Dns;
using Mail.Testing.Dns;
using Microsoft.Extensions.Options;

namespace Mail.Smtp.Tests;

/// <summary>MyNetworks relay, forward-confirmed reverse DNS against a real loopback DNS server, and the pregreet test.</summary>
public sealed class ConnectStageTests
{
    private static async Task<SmtpReply> RelayAttemptAsync(SmtpTestServer s, IPAddress? from = null)
    {
        using var c = RawSmtpClient.Connect(s.Mx, from);
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<app@internal.test>")).Code);
        var reply = await c.CommandAsync("RCPT TO:<someone@elsewhere.test>");
        if (reply.Code == 250)
        {
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await c.CommandAsync("Subject: relay\r\n\r\nx\r\n.")).Code);
        }
        return reply;
    }

    [Fact]
    public async Task Client_in_mynetworks_may_relay()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MyNetworks = ["10.0.0.0/8", "127.0.0.0/8"]);
        Assert.Equal(250, (await RelayAttemptAsync(s)).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("someone@elsewhere.test", Assert.Single(env.Recipients).Address);
        Assert.Null(env.AuthenticatedUser);
    }

    [Fact]
    public async Task Client_outside_mynetworks_may_not_relay()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MyNetworks = ["127.0.0.2", "::1/128"]);
        Assert.StartsWith("554 5.7.1", (await RelayAttemptAsync(s, IPAddress.Parse("127.0.0.1"))).Last);
        Assert.Equal(250, (await RelayAttemptAsync(s, IPAddress.Parse("127.0.0.2"))).Code);
        Assert.Single(await s.QueuedAsync());
    }

    [Fact]
    public async Task Without_mynetworks_loopback_is_not_trusted()
    {
        await using var s = await SmtpTestServer.StartAsync();
        Assert.StartsWith("554 5.7.1", (await RelayAttemptAsync(s)).Last);
        Assert.Empty(await s.QueuedAsync());
    }

    [Fact]
    public void Bad_mynetworks_entry_is_a_startup_error_naming_it()
    {
        var o = new SmtpServerOptions
        {
            Listeners = [new SmtpListenerOptions { Endpoint = "127.0.0.1:0" }],
            MyNetworks = ["127.0.0.0/8", "10.0.0.0/33", "not-a-network"],
        };
        var ex = Assert.Throws<OptionsValidationException>(o.Validate);
        var all = string.Join("\n", ex.Failures);
        Assert.Contains("Smtp:MyNetworks:1", all);
        Assert.Contains("Smtp:MyNetworks:2", all);
        Assert.DoesNotContain("Smtp:MyNetworks:0", all);
    }

    // ---- reverse DNS ---------------------------------------------------------------------------

    private const string LoopbackPtr = "1.0.0.127.in-addr.arpa";

    private static DnsResolver Resolver(TestDnsServer dns) =>
        new(new DnsResolverOptions { NameServers = [dns.EndPoint], Timeout = TimeSpan.FromMilliseconds(500), Retries = 0, UseCache = false });

    private static async Task<Mail.Core.Model.Envelope> SendOneAsync(SmtpTestServer s)
    {
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("helo.client.test");
        await c.CommandAsync("MAIL FROM:<x@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("Subject: r\r\n\r\nx\r\n.")).Code);
        return Assert.Single(await s.QueuedAsync());
    }

    [Fact]
    public async Task Forward_confirmed_reverse_name_goes_into_envelope_and_received_header()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.Add(LoopbackPtr, DnsRecordType.PTR, "liar.example.net");
        dns.Add(LoopbackPtr, DnsRecordType.PTR, "Client.Example.Net.");
        dns.Add("liar.example.net", DnsRecordType.A, "192.0.2.1");
        dns.Add("client.example.net", DnsRecordType.A, "192.0.2.7");
        dns.Add("client.example.net", DnsRecordType.A, "127.0.0.1");
        await using var s = await SmtpTestServer.StartAsync(dns: Resolver(dns));
        var env = await SendOneAsync(s);
        Assert.Equal("pass", env.ConnectionResults["fcrdns"]);
        Assert.Equal("client.example.net", env.Client.ReverseName);
        Assert.Contains("Received: from helo.client.test (client.example.net [127.0.0.1])", await s.ReadMessageAsync(env.MessageRef));
    }

    [Fact]
    public async Task Ptr_that_does_not_point_back_is_fail_and_not_used()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.Add(LoopbackPtr, DnsRecordType.PTR, "forged.example.net");
        dns.Add("forged.example.net", DnsRecordType.A, "192.0.2.1");
        await using var s = await SmtpTestServer.StartAsync(dns: Resolver(dns));
        var env = await SendOneAsync(s);
        Assert.Equal("fail", env.ConnectionResults["fcrdns"]);
        Assert.Null(env.Client.ReverseName);
        var text = await s.ReadMessageAsync(env.MessageRef);
        Assert.Contains("Received: from helo.client.test ([127.0.0.1])", text);
        Assert.DoesNotContain("forged.example.net", text);
    }

    [Fact]
    public async Task No_ptr_at_all_is_fail()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.SetNxDomain(LoopbackPtr);
        await using var s = await SmtpTestServer.StartAsync(dns: Resolver(dns));
        var env = await SendOneAsync(s);
        Assert.Equal("fail", env.ConnectionResults["fcrdns"]);
        Assert.Null(env.Client.ReverseName);
    }

    [Fact]
    public async Task Dns_failure_is_temperror_not_fail()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.SetServFail(LoopbackPtr);
        await using var s = await SmtpTestServer.StartAsync(dns: Resolver(dns));
        var env = await SendOneAsync(s);
        Assert.Equal("temperror", env.ConnectionResults["fcrdns"]);
        Assert.Null(env.Client.ReverseName);
    }

    [Fact]
    public async Task Forward_lookup_failure_is_temperror()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.Add(LoopbackPtr, DnsRecordType.PTR, "slow.example.net");
        dns.SetTimeout("slow.example.net");
        await using var s = await SmtpTestServer.StartAsync(o => o.ReverseDnsTimeout = TimeSpan.FromSeconds(5), dns: Resolver(dns));
        var env = await SendOneAsync(s);
        Assert.Equal("temperror", env.ConnectionResults["fcrdns"]);
    }

    [Fact]
    public async Task Dns_that_never_answers_is_cut_off_by_the_reverse_dns_timeout()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.SetTimeout(LoopbackPtr);
        var slow = new DnsResolver(new DnsResolverOptions { NameServers = [dns.EndPoint], Timeout = TimeSpan.FromSeconds(30), Retries = 0, UseCache = false });
        await using var s = await SmtpTestServer.StartAsync(o => o.ReverseDnsTimeout = TimeSpan.FromMilliseconds(300), dns: slow);
        // Without the cut-off the greeting would wait for the resolver's 30 s and the client's reads would time out.
        var env = await SendOneAsync(s);
        Assert.Equal("temperror", env.ConnectionResults["fcrdns"]);
    }

    [Fact]
    public async Task Without_a_resolver_there_is_no_fcrdns_result()
    {
        await using var s = await SmtpTestServer.StartAsync();
        var env = await SendOneAsync(s);
        Assert.False(env.ConnectionResults.ContainsKey("fcrdns"));
    }

    // ---- pregreet ------------------------------------------------------------------------------

    private static void Pregreet(SmtpServerOptions o, TimeSpan delay) => o.Listeners.First(l => l.Name == "mx").PregreetDelay = delay;

    [Fact]
    public async Task Client_that_talks_before_the_greeting_is_rejected_and_disconnected()
    {
        await using var s = await SmtpTestServer.StartAsync(o => Pregreet(o, TimeSpan.FromSeconds(30)));
        using var c = s.Connect();
        await c.SendAsync("EHLO bot.test\r\nMAIL FROM:<spam@bot.test>\r\nRCPT TO:<alice@example.test>\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.StartsWith("554 5.7.1", reply.Last);
        Assert.Contains("talked before greeting", reply.Last);
        Assert.True(await c.IsClosedAsync());
        Assert.Empty(await s.QueuedAsync());
    }

    [Fact]
    public async Task Patient_client_gets_the_greeting_after_the_delay()
    {
        await using var s = await SmtpTestServer.StartAsync(o => Pregreet(o, TimeSpan.FromMilliseconds(500)));
        using var c = s.Connect();
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<x@other.test>")).Code);
    }

    [Fact]
    public async Task Mynetworks_clients_skip_the_pregreet_wait()
    {
        await using var s = await SmtpTestServer.StartAsync(o =>
        {
            Pregreet(o, TimeSpan.FromSeconds(30));
            o.MyNetworks = ["127.0.0.1"];
        });
        using var c = s.Connect();
        // Talking at once would be a pregreet for anybody else; a trusted client is greeted without the wait.
        await c.SendAsync("EHLO trusted.test\r\n");
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Shutdown_during_the_pregreet_wait_says_421()
    {
        var s = await SmtpTestServer.StartAsync(o => Pregreet(o, TimeSpan.FromSeconds(30)));
        await using (s)
        {
            using var c = s.Connect();
            await LimitsTests.WaitForAsync(() => s.Server.ConnectionCount == 1);
            var stop = s.Server.StopAsync();
            Assert.StartsWith("421 4.3.2", (await c.ReadReplyAsync()).Last);
            await stop;
        }
    }

    [Fact]
    public async Task Bot_that_answers_the_first_banner_line_is_caught()
    {
        await using var s = await SmtpTestServer.StartAsync(o =>
        {
            Pregreet(o, TimeSpan.FromSeconds(30));
            o.Listeners.First(l => l.Name == "mx").PregreetBanner = true;
        });
        using var c = s.Connect();
        Assert.Equal("220-mx.example.test ESMTP", await c.ReadLineAsync());
        await c.SendAsync("EHLO bot.test\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.StartsWith("554 5.7.1", reply.Last);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Patient_client_gets_the_whole_banner_greeting()
    {
        await using var s = await SmtpTestServer.StartAsync(o =>
        {
            Pregreet(o, TimeSpan.FromMilliseconds(500));
            o.Listeners.First(l => l.Name == "mx").PregreetBanner = true;
        });
        using var c = s.Connect();
        var greeting = await c.ReadReplyAsync();
        Assert.Equal(["220-mx.example.test ESMTP", "220 mx.example.test ESMTP ready"], greeting.Lines);
        await c.EhloAsync();
    }

    [Fact]
    public void Pregreet_on_an_implicit_tls_listener_is_a_startup_error()
    {
        var o = new SmtpServerOptions
        {
            Certificate = SmtpTestServer.Certificate,
            Listeners = [new SmtpListenerOptions { Endpoint = "127.0.0.1:0", ImplicitTls = true, PregreetDelay = TimeSpan.FromSeconds(1) }],
        };
        var ex = Assert.Throws<OptionsValidationException>(o.Validate);
        Assert.Contains("Smtp:Listeners:0:PregreetDelay", string.Join("\n", ex.Failures));
    }
}
