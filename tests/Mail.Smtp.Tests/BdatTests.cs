using System.Text;

namespace Mail.Smtp.Tests;

/// <summary>CHUNKING / BDAT (RFC 3030).</summary>
public sealed class BdatTests
{
    private static async Task<RawSmtpClient> TransactionAsync(SmtpTestServer s)
    {
        var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        return c;
    }

    [Fact]
    public async Task Chunks_are_stored_verbatim_and_bdat_0_last_ends_the_message()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await TransactionAsync(s);
        // Chunk data is not dot-stuffed and may contain anything, including what looks like an end of DATA and commands.
        var chunk1 = "Subject: chunks\r\n\r\n.\r\nQUIT\r\n";
        var chunk2 = "..second\r\nRSET\r\n";
        await c.SendAsync($"BDAT {Encoding.UTF8.GetByteCount(chunk1)}\r\n{chunk1}");
        Assert.StartsWith($"250 2.0.0 {chunk1.Length} octets received", (await c.ReadReplyAsync()).Last);
        await c.SendAsync($"BDAT {chunk2.Length}\r\n{chunk2}");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("DATA")).Last);
        var done = await c.CommandAsync("BDAT 0 LAST");
        Assert.StartsWith("250 2.0.0 Ok: queued as ", done.Last);
        var env = Assert.Single(await s.QueuedAsync());
        var text = await s.ReadMessageAsync(env.MessageRef);
        Assert.EndsWith("+0000\r\n" + chunk1 + chunk2, text);
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
    }

    [Fact]
    public async Task Pipelined_single_last_chunk()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        var body = "Subject: one\r\n\r\nbody\n(bare LF is fine in BDAT)\r\n";
        await c.SendAsync($"MAIL FROM:<a@other.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT {body.Length} LAST\r\n{body}QUIT\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.StartsWith("250 2.0.0 Ok: queued as", (await c.ReadReplyAsync()).Last);
        Assert.Equal(221, (await c.ReadReplyAsync()).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.EndsWith(body, await s.ReadMessageAsync(env.MessageRef));
    }

    [Fact]
    public async Task Refused_bdat_still_consumes_its_chunk()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        // No MAIL: 503, and the chunk (which looks like commands) must not be executed.
        var chunk = "MAIL FROM:<x@other.test>\r\n";
        await c.SendAsync($"BDAT {chunk.Length}\r\n{chunk}");
        Assert.StartsWith("503 5.5.1", (await c.ReadReplyAsync()).Last);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("RCPT TO:<alice@example.test>")).Last);
        // MAIL without any accepted recipient: 554.
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test>")).Code);
        await c.SendAsync($"BDAT {chunk.Length} LAST\r\n{chunk}");
        Assert.StartsWith("554 5.5.1", (await c.ReadReplyAsync()).Last);
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
        Assert.Empty(await s.QueuedAsync());
    }

    [Fact]
    public async Task Chunks_over_the_size_limit_are_refused_and_consumed()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxMessageSize = 4096);
        using var c = await TransactionAsync(s);
        var big = new string('b', 3000);
        await c.SendAsync($"BDAT 3000\r\n{big}");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        await c.SendAsync($"BDAT 3000 LAST\r\n{big}");
        Assert.StartsWith("552 5.3.4", (await c.ReadReplyAsync()).Last);
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
        Assert.Empty(await s.QueuedAsync());
        Assert.Empty(s.StoredMessageIds());
    }

    [Theory]
    [InlineData("BDAT")]
    [InlineData("BDAT x")]
    [InlineData("BDAT 10 NOTLAST")]
    [InlineData("BDAT -1")]
    public async Task Bdat_with_a_bad_size_closes_the_connection(string command)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await TransactionAsync(s);
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync(command)).Last);
        Assert.StartsWith("421", (await c.ReadReplyAsync()).Last);
        Assert.True(await c.IsClosedAsync());
    }
}
