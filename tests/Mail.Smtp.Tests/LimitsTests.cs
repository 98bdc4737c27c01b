using System.Text;
using Mail.Core.Ports;

namespace Mail.Smtp.Tests;

/// <summary>Every configured limit, each with its RFC reply.</summary>
public sealed class LimitsTests
{
    private static async Task StartTransactionAsync(RawSmtpClient c)
    {
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<sender@other.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
    }

    [Fact]
    public async Task Declared_size_over_the_limit_is_refused_at_mail()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxMessageSize = 10_000);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.StartsWith("552 5.3.4", (await c.CommandAsync("MAIL FROM:<a@other.test> SIZE=10001")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test> SIZE=10000")).Code);
    }

    [Fact]
    public async Task Size_is_enforced_while_reading_data_storing_stops_at_the_limit()
    {
        var counting = (CountingStore?)null;
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxMessageSize = 20_000,
            wrapStore: inner => counting = new CountingStore(inner));
        using var c = s.Connect();
        await StartTransactionAsync(c);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        var line = new string('x', 98) + "\r\n";
        // 200 KB: ten times the limit, sent without waiting; the server keeps reading to the end of data.
        var body = new StringBuilder("Subject: big\r\n\r\n");
        for (var i = 0; i < 2000; i++) body.Append(line);
        await c.SendAsync(body.ToString());
        var reply = await c.CommandAsync(".");
        Assert.StartsWith("552 5.3.4", reply.Last);
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
        Assert.Empty(await s.QueuedAsync());
        Assert.Empty(s.StoredMessageIds());
        // Never more than the limit (plus our Received: header and one output buffer) went to the store.
        Assert.InRange(counting!.MaxWritten, 1, 20_000 + 16 * 1024 + 1024);
    }

    [Fact]
    public async Task Too_many_recipients_gets_452()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxRecipients = 2);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<bob@example.test>")).Code);
        Assert.StartsWith("452 4.5.3", (await c.CommandAsync("RCPT TO:<alice@example.test>")).Last);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: x\r\n\r\ny\r\n.")).Code);
        Assert.Equal(2, Assert.Single(await s.QueuedAsync()).Recipients.Count);
    }

    [Fact]
    public async Task Too_many_errors_closes_with_421()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxErrors = 3);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(500, (await c.CommandAsync("BOGUS1")).Code);
        Assert.Equal(500, (await c.CommandAsync("BOGUS2")).Code);
        Assert.Equal(500, (await c.CommandAsync("BOGUS3")).Code);
        Assert.StartsWith("421 4.7.0", (await c.ReadReplyAsync()).Last);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Too_many_commands_without_mail_closes_with_421()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxCommandsBeforeMail = 4);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        for (var i = 0; i < 3; i++) Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
        Assert.StartsWith("421 4.7.0", (await c.CommandAsync("NOOP")).Last);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task A_transaction_resets_the_commands_without_mail_counter()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxCommandsBeforeMail = 3);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
            Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test>")).Code);
            Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        }
    }

    [Fact]
    public async Task Connections_per_client_are_limited_at_connect()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxConnectionsPerClient = 2);
        using var a = s.Connect();
        using var b = s.Connect();
        Assert.Equal(220, (await a.ReadReplyAsync()).Code);
        Assert.Equal(220, (await b.ReadReplyAsync()).Code);
        using (var third = s.Connect())
        {
            Assert.StartsWith("421 4.7.0", (await third.ReadReplyAsync()).Last);
            Assert.True(await third.IsClosedAsync());
        }
        // A slot frees when a client leaves.
        Assert.Equal(221, (await a.CommandAsync("QUIT")).Code);
        Assert.True(await a.IsClosedAsync());
        await WaitForAsync(() => s.Server.ConnectionCount == 1);
        using var fourth = s.Connect();
        Assert.Equal(220, (await fourth.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Connections_in_total_are_limited_at_connect()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxConnections = 1);
        using var a = s.Connect();
        Assert.Equal(220, (await a.ReadReplyAsync()).Code);
        using var b = s.Connect();
        var refused = await b.ReadReplyAsync();
        Assert.StartsWith("421 4.7.0", refused.Last);
        Assert.Contains("Too many connections", refused.Last);
    }

    [Fact]
    public async Task Command_line_over_512_octets_gets_500_and_the_session_continues()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.StartsWith("500 5.5.2 Line too long", (await c.CommandAsync("NOOP " + new string('x', 507))).Last);
        Assert.Equal(250, (await c.CommandAsync("NOOP " + new string('x', 505))).Code); // 512 with CRLF
        // Much longer than any buffer, sent in pieces: dropped as it arrives, answered once.
        for (var i = 0; i < 10; i++) await c.SendAsync("VRFY " + new string('y', 2000));
        Assert.StartsWith("500 5.5.2 Line too long", (await c.CommandAsync("")).Last);
        // The tail of the long line was not taken for a command.
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
    }

    [Fact]
    public async Task Mail_and_rcpt_lines_may_carry_longer_parameters()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        var envId = new string('e', 100);
        var line = $"MAIL FROM:<{new string('s', 60)}@other.test> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID={envId}";
        Assert.Equal(250, (await c.CommandAsync(line)).Code);
        var orcpt = "rfc822;" + new string('o', 450) + "@example.test";
        Assert.True(("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=" + orcpt).Length > 512);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=" + orcpt)).Code);
    }

    [Fact]
    public async Task Text_line_over_the_limit_is_refused_after_the_data()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxLineLength = 1000);
        using var c = s.Connect();
        await StartTransactionAsync(c);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.StartsWith("552 5.6.0", (await c.CommandAsync("Subject: x\r\n\r\n" + new string('z', 999) + "\r\n.")).Last);
        await c.CommandAsync("MAIL FROM:<sender@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: x\r\n\r\n" + new string('z', 998) + "\r\n.")).Code);
    }

    [Fact]
    public async Task Idle_timeout_sends_421_and_closes()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.IdleTimeout = TimeSpan.FromSeconds(2));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.StartsWith("421 4.4.2", (await c.ReadReplyAsync()).Last);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Command_timeout_applies_to_an_unfinished_line()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.CommandTimeout = TimeSpan.FromSeconds(1));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.SendAsync("NOO");
        Assert.StartsWith("421 4.4.2", (await c.ReadReplyAsync()).Last);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Command_timeout_counts_from_the_first_octet_of_the_line()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.CommandTimeout = TimeSpan.FromSeconds(2));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        try
        {
            // Each octet comes well within the timeout, the line as a whole does not.
            foreach (var ch in "NOOP xxxxxxxxxxxxxxx")
            {
                await c.SendAsync(ch.ToString());
                await Task.Delay(300);
            }
            await c.SendAsync("\r\n");
        }
        catch (IOException)
        {
            // The server has already closed the connection.
        }
        Assert.StartsWith("421 4.4.2", (await c.ReadReplyAsync()).Last);
    }

    [Fact]
    public async Task Data_timeout_sends_421_and_nothing_is_stored()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.CommandTimeout = TimeSpan.FromSeconds(2));
        using var c = s.Connect();
        await StartTransactionAsync(c);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("Subject: slow\r\n\r\npart");
        Assert.StartsWith("421 4.4.2", (await c.ReadReplyAsync()).Last);
        Assert.True(await c.IsClosedAsync());
        Assert.Empty(await s.QueuedAsync());
        await WaitForAsync(() => s.Server.ConnectionCount == 0);
        Assert.Empty(Directory.GetFiles(s.Store.Root));
    }

    internal static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++) await Task.Delay(25);
        Assert.True(condition());
    }

    /// <summary>Records how many octets reached the real store per message.</summary>
    private sealed class CountingStore(IMessageStore inner) : IMessageStore
    {
        private long _max;
        public long MaxWritten => Interlocked.Read(ref _max);

        public async Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default) =>
            new Writer(this, await inner.CreateAsync(id, cancellationToken));

        public Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default) => inner.OpenReadAsync(id, cancellationToken);
        public Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default) => inner.ExistsAsync(id, cancellationToken);
        public Task DeleteAsync(string id, CancellationToken cancellationToken = default) => inner.DeleteAsync(id, cancellationToken);

        private sealed class Writer(CountingStore owner, IMessageWriter inner) : IMessageWriter
        {
            public string Id => inner.Id;
            public long Length => inner.Length;

            public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
            {
                await inner.WriteAsync(data, cancellationToken);
                if (inner.Length > owner._max) Interlocked.Exchange(ref owner._max, inner.Length);
            }

            public Task<StoredMessage> CommitAsync(CancellationToken cancellationToken = default) => inner.CommitAsync(cancellationToken);
            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
