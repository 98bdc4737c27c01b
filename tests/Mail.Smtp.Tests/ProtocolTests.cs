using System.Text;
using Mail.Core.Model;

namespace Mail.Smtp.Tests;

/// <summary>RFC 5321 commands and the EHLO extensions, over a raw socket.</summary>
public sealed class ProtocolTests
{
    [Fact]
    public async Task Greeting_and_ehlo_advertise_every_extension_without_enhanced_codes()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxMessageSize = 123456);
        using var c = s.Connect();
        var greeting = await c.ReadReplyAsync();
        Assert.Equal(220, greeting.Code);
        Assert.StartsWith("220 mx.example.test ESMTP", greeting.Last);
        var ehlo = await c.EhloAsync();
        var keywords = ehlo.Lines.Skip(1).Select(l => l[4..]).ToList();
        Assert.Equal(["PIPELINING", "SIZE 123456", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "DSN"], keywords);
        // RFC 2034 section 3: no enhanced code on the greeting or the EHLO reply.
        Assert.DoesNotMatch(@"^\d{3}[ -]\d\.\d", ehlo.Lines[0]);
    }

    [Fact]
    public async Task Every_other_reply_carries_an_enhanced_status_code()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        var replies = new List<SmtpReply>
        {
            await c.CommandAsync("NOOP"),
            await c.CommandAsync("VRFY alice"),
            await c.CommandAsync("HELP"),
            await c.CommandAsync("RCPT TO:<alice@example.test>"),
            await c.CommandAsync("MAIL FROM:<x@other.test>"),
            await c.CommandAsync("MAIL FROM:<x@other.test>"),
            await c.CommandAsync("RCPT TO:<alice@example.test>"),
            await c.CommandAsync("RSET"),
            await c.CommandAsync("FOO"),
            await c.CommandAsync("EXPN list"),
        };
        Assert.Equal([250, 252, 214, 503, 250, 503, 250, 250, 500, 502], replies.Select(r => r.Code));
        foreach (var r in replies) Assert.Matches(@"^\d{3} [245]\.\d{1,3}\.\d{1,3} ", r.Last);
        var quit = await c.CommandAsync("QUIT");
        Assert.Equal(221, quit.Code);
        Assert.StartsWith("221 2.0.0", quit.Last);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Mail_before_helo_and_data_without_recipients_are_refused()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("MAIL FROM:<a@other.test>")).Last);
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync("EHLO")).Last);
        await c.EhloAsync();
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("DATA")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<>")).Code);
        Assert.StartsWith("554 5.5.1", (await c.CommandAsync("DATA")).Last);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("MAIL FROM:<b@other.test>")).Last);
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync("MAIL FROM:a@other.test")).Last);
    }

    [Fact]
    public async Task Helo_session_is_plain_smtp_and_refuses_esmtp_parameters()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        var helo = await c.CommandAsync("HELO client.test");
        Assert.Single(helo.Lines);
        Assert.Equal(250, helo.Code);
        Assert.StartsWith("555 5.5.4", (await c.CommandAsync("MAIL FROM:<a@other.test> SIZE=10")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        var done = await c.CommandAsync("Subject: hi\r\n\r\nhello\r\n.");
        Assert.Equal(250, done.Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("SMTP", env.Client.Protocol);
        Assert.Equal("client.test", env.Client.Helo);
    }

    [Fact]
    public async Task Pipelined_transaction_gets_all_replies_in_order_and_is_stored_with_received_header()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("pipe.client.test");
        // RFC 2920: the whole group in one write, DATA last.
        await c.SendAsync("MAIL FROM:<sender@other.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<BOB@Example.TEST.>\r\nDATA\r\n");
        var codes = new List<int>();
        for (var i = 0; i < 5; i++) codes.Add((await c.ReadReplyAsync()).Code);
        Assert.Equal([250, 250, 550, 250, 354], codes);
        await c.SendAsync("Subject: pipelined\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n");
        var queued = await c.ReadReplyAsync();
        Assert.Equal(250, queued.Code);
        Assert.Equal(221, (await c.ReadReplyAsync()).Code);
        var id = queued.Last.Split(' ')[^1];
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal(id, env.QueueId);
        Assert.Equal(["alice@example.test", "BOB@example.test"], env.Recipients.Select(r => r.Address));
        Assert.Equal("ESMTP", env.Client.Protocol);
        Assert.Equal("127.0.0.1", env.Client.Address);
        var text = await s.ReadMessageAsync(env.MessageRef);
        Assert.StartsWith("Received: from pipe.client.test ([127.0.0.1])\r\n\tby mx.example.test with ESMTP id " + id + ";", text);
        Assert.EndsWith("Subject: pipelined\r\n\r\n.leading dot\r\n", text);
        Assert.Equal(Encoding.UTF8.GetByteCount(text), env.Size);
    }

    [Fact]
    public async Task Envelope_carries_a_w3c_traceparent_when_tracing_is_on()
    {
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Mail.Smtp",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllData,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("Subject: t\r\n\r\nx\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", env.TraceParent);
    }

    [Fact]
    public async Task Dot_unstuffing_is_exact_including_the_first_line()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("..first\r\n...\r\n. \r\nmid.dle\r\n..\r\n.\r\n");
        var r = await c.ReadReplyAsync();
        Assert.Equal(250, r.Code);
        var env = Assert.Single(await s.QueuedAsync());
        var text = await s.ReadMessageAsync(env.MessageRef);
        var body = text[(text.IndexOf("+0000\r\n", StringComparison.Ordinal) + 7)..];
        Assert.Equal(".first\r\n..\r\n \r\nmid.dle\r\n.\r\n", body);
    }

    [Fact]
    public async Task Empty_message_ends_at_the_first_dot_line()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        var r = await c.CommandAsync(".");
        Assert.Equal(250, r.Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.StartsWith("Received:", await s.ReadMessageAsync(env.MessageRef));
    }

    [Fact]
    public async Task Smtputf8_addresses_need_the_parameter()
    {
        await using var s = await SmtpTestServer.StartAsync();
        await s.Directory.SetUserAsync("jürgen@example.test", "pw");
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.StartsWith("553 5.6.7", (await c.CommandAsync("MAIL FROM:<jörg@other.test>")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<jörg@other.test> SMTPUTF8 BODY=8BITMIME")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<jürgen@example.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: grüße\r\n\r\nÄÖÜ\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.True(env.MailFromParameters.SmtpUtf8);
        Assert.Equal(BodyType.EightBitMime, env.MailFromParameters.Body);
        Assert.Equal("UTF8SMTP", env.Client.Protocol);
        Assert.Contains("ÄÖÜ", await s.ReadMessageAsync(env.MessageRef));
    }

    [Fact]
    public async Task Unknown_and_malformed_parameters_are_refused()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.StartsWith("555 5.5.4", (await c.CommandAsync("MAIL FROM:<a@other.test> FOO=bar")).Last);
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync("MAIL FROM:<a@other.test> SIZE=abc")).Last);
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync("MAIL FROM:<a@other.test> BODY=9BIT")).Last);
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync("MAIL FROM:<a@other.test> SIZE=1 SIZE=2")).Last);
        Assert.StartsWith("553 5.1.7", (await c.CommandAsync("MAIL FROM:<a b@other.test>")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test> SIZE=100")).Code);
        Assert.StartsWith("501 5.1.3", (await c.CommandAsync("RCPT TO:<alice@>")).Last);
        Assert.StartsWith("555 5.5.4", (await c.CommandAsync("RCPT TO:<alice@example.test> FOO")).Last);
    }
}
