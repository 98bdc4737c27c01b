using System.Net;
using Mail.Core.Accounts;
using Mail.Storage.Embedded;
using Microsoft.Extensions.Options;

namespace Mail.Smtp.Tests;

/// <summary>Connection, message and recipient rate limits per client and per network, counted in the real SQLite state store.</summary>
public sealed class RateLimitTests
{
    private static readonly IPAddress s_a = IPAddress.Parse("127.0.0.1");
    private static readonly IPAddress s_b = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress s_otherNet = IPAddress.Parse("127.0.1.1");

    private static async Task<List<string>> CounterKeysAsync(SmtpTestServer s)
    {
        var keys = new List<string>();
        await foreach (var e in s.State.ListAsync("smtp-rate")) keys.Add($"{e.Key}={e.Value}");
        return keys;
    }

    private static async Task<SmtpReply> GreetingAsync(SmtpTestServer s, IPAddress from)
    {
        using var c = RawSmtpClient.Connect(s.Mx, from);
        var reply = await c.ReadReplyAsync();
        if (reply.Code == 421) Assert.True(await c.IsClosedAsync());
        else await c.CommandAsync("QUIT");
        return reply;
    }

    [Fact]
    public async Task Connections_per_client_over_the_limit_get_421_at_connect()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.RateLimits.ConnectionsPerClient = 2);
        Assert.Equal(220, (await GreetingAsync(s, s_a)).Code);
        Assert.Equal(220, (await GreetingAsync(s, s_a)).Code);
        var refused = await GreetingAsync(s, s_a);
        Assert.StartsWith("421 4.7.0", refused.Last);
        Assert.Contains("Too many connections from 127.0.0.1", refused.Last);
        // Another address has its own budget.
        Assert.Equal(220, (await GreetingAsync(s, s_b)).Code);
        var keys = await CounterKeysAsync(s);
        Assert.Contains(keys, k => k.StartsWith("connections/ip/127.0.0.1/", StringComparison.Ordinal) && k.EndsWith("=3", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connections_per_network_count_the_whole_slash_24()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.RateLimits.ConnectionsPerNetwork = 2);
        Assert.Equal(220, (await GreetingAsync(s, s_a)).Code);
        Assert.Equal(220, (await GreetingAsync(s, s_b)).Code);
        var refused = await GreetingAsync(s, IPAddress.Parse("127.0.0.3"));
        Assert.StartsWith("421 4.7.0", refused.Last);
        Assert.Contains("127.0.0.0/24", refused.Last);
        Assert.Equal(220, (await GreetingAsync(s, s_otherNet)).Code);
    }

    [Fact]
    public async Task Messages_per_client_over_the_limit_get_450_at_mail()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.RateLimits.MessagesPerClient = 2);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<x@other.test>")).Code);
            Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await c.CommandAsync($"Subject: {i}\r\n\r\nx\r\n.")).Code);
        }
        var refused = await c.CommandAsync("MAIL FROM:<x@other.test>");
        Assert.StartsWith("450 4.7.1", refused.Last);
        Assert.Contains("rate limit exceeded", refused.Last);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("RCPT TO:<alice@example.test>")).Last);
        Assert.Equal(2, (await s.QueuedAsync()).Count);
        // The limit is per client: a new connection from the same address is refused too.
        using var again = s.Connect();
        await again.ReadReplyAsync();
        await again.EhloAsync();
        Assert.StartsWith("450 4.7.1", (await again.CommandAsync("MAIL FROM:<x@other.test>")).Last);
    }

    [Fact]
    public async Task Recipients_per_client_and_per_network_get_450_at_rcpt()
    {
        await using var s = await SmtpTestServer.StartAsync(o =>
        {
            o.RateLimits.RecipientsPerClient = 3;
            o.RateLimits.RecipientsPerNetwork = 4;
        });
        using (var c = RawSmtpClient.Connect(s.Mx, s_a))
        {
            await c.ReadReplyAsync();
            await c.EhloAsync();
            await c.CommandAsync("MAIL FROM:<x@other.test>");
            Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
            Assert.StartsWith("550 5.1.1", (await c.CommandAsync("RCPT TO:<nobody@example.test>")).Last);
            Assert.Equal(250, (await c.CommandAsync("RCPT TO:<bob@example.test>")).Code);
            var refused = await c.CommandAsync("RCPT TO:<alice@example.test>");
            Assert.StartsWith("450 4.7.1", refused.Last);
            Assert.Contains("Too many recipients from 127.0.0.1", refused.Last);
            // What was accepted before the limit still goes through.
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await c.CommandAsync("Subject: r\r\n\r\nx\r\n.")).Code);
        }
        Assert.Equal(2, Assert.Single(await s.QueuedAsync()).Recipients.Count);
        using var neighbour = RawSmtpClient.Connect(s.Mx, s_b);
        await neighbour.ReadReplyAsync();
        await neighbour.EhloAsync();
        await neighbour.CommandAsync("MAIL FROM:<y@other.test>");
        // 127.0.0.1 made 4 RCPT attempts: the /24 has used its 4, so its neighbour is refused at once.
        Assert.StartsWith("450 4.7.1", (await neighbour.CommandAsync("RCPT TO:<alice@example.test>")).Last);
    }

    [Fact]
    public async Task Mynetworks_clients_are_exempt()
    {
        await using var s = await SmtpTestServer.StartAsync(o =>
        {
            o.RateLimits.ConnectionsPerClient = 1;
            o.RateLimits.MessagesPerClient = 1;
            o.MyNetworks = ["127.0.0.1/32"];
        });
        for (var i = 0; i < 3; i++)
        {
            using var c = RawSmtpClient.Connect(s.Mx, s_a);
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            await c.EhloAsync();
            Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<x@other.test>")).Code);
        }
        Assert.Equal(220, (await GreetingAsync(s, s_b)).Code);
        Assert.StartsWith("421 4.7.0", (await GreetingAsync(s, s_b)).Last);
    }

    [Fact]
    public async Task Counters_are_shared_through_the_state_store_by_two_servers()
    {
        // Two edge instances over one state store (as in the cloud): the budget is global, not per instance.
        await using var first = await SmtpTestServer.StartAsync(o => o.RateLimits.ConnectionsPerClient = 2);
        var options = new SmtpServerOptions
        {
            HostName = "mx2.example.test",
            Listeners = [new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:0" }],
            RateLimits = { ConnectionsPerClient = 2, Window = SmtpTestServer.TestRateWindow },
        };
        await using var second = new SmtpServer(options, new SmtpServices
        {
            MessageStore = first.Store, InboundQueue = first.Queue, Directory = first.Directory, State = first.State,
        });
        await second.StartAsync();
        Assert.Equal(220, (await GreetingAsync(first, s_a)).Code);
        using (var c = RawSmtpClient.Connect(second.BoundEndpoints["mx"], s_a))
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        Assert.StartsWith("421 4.7.0", (await GreetingAsync(first, s_a)).Last);
    }

    [Fact]
    public async Task Rate_limits_without_a_state_store_are_a_startup_error()
    {
        var root = Path.Combine(Path.GetTempPath(), "mail-smtp-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var options = new SmtpServerOptions
            {
                Listeners = [new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:0" }],
                RateLimits = { MessagesPerClient = 10 },
            };
            await using var server = new SmtpServer(options, new SmtpServices
            {
                MessageStore = new FileMessageStore(Path.Combine(root, "m")),
                InboundQueue = new SpoolQueue(Path.Combine(root, "q"), "inbound"),
                Directory = new MailDirectory(new SqliteStateStore(Path.Combine(root, "s.db"))),
            });
            var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => server.StartAsync());
            Assert.Contains("Smtp:RateLimits", ex.Message);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Negative_limits_and_bad_prefixes_are_rejected_by_name()
    {
        var o = new SmtpServerOptions
        {
            Listeners = [new SmtpListenerOptions { Endpoint = "127.0.0.1:0" }],
            RateLimits = { RecipientsPerNetwork = -1, IPv4NetworkPrefix = 33, Window = TimeSpan.Zero },
        };
        var all = string.Join("\n", Assert.Throws<OptionsValidationException>(o.Validate).Failures);
        Assert.Contains("Smtp:RateLimits:RecipientsPerNetwork", all);
        Assert.Contains("Smtp:RateLimits:IPv4NetworkPrefix", all);
        Assert.Contains("Smtp:RateLimits:Window", all);
    }
}
