namespace Mail.Smtp.Tests;

/// <summary>SMTP smuggling (CVE-2023-51764 and relatives): only CRLF.CRLF ends DATA, bare CR/LF are refused.</summary>
public sealed class SmugglingTests
{
    public static TheoryData<string, string> FakeTerminators => new()
    {
        { "LF.CRLF", "\n.\r\n" },
        { "CR.CR", "\r.\r" },
        { "LF.LF", "\n.\n" },
        { "CRLF.LF", "\r\n.\n" },
        { "LF.CR", "\n.\r" },
        { "CR.LF", "\r.\n" },
        { "CR.CRLF", "\r.\r\n" },
        { "CRLF.CR", "\r\n.\r" },
        { "CRLF.CR-CRLF", "\r\n.\r\r\n" },
    };

    [Theory]
    [MemberData(nameof(FakeTerminators))]
    public async Task Fake_end_of_data_never_ends_the_message_and_the_smuggled_transaction_is_not_executed(string name, string fake)
    {
        Assert.NotEmpty(name);
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<sender@other.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("Subject: outer\r\n\r\nhello" + fake
            + "MAIL FROM:<ceo@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n");
        // The only real end of data is the CRLF.CRLF above: exactly one reply, a refusal.
        var reply = await c.ReadReplyAsync();
        Assert.StartsWith("550 5.6.0", reply.Last);
        // The next reply answers our NOOP: nothing smuggled produced a reply of its own.
        var noop = await c.CommandAsync("NOOP");
        Assert.StartsWith("250 2.0.0", noop.Last);
        // And the transaction was reset: no MAIL is in effect.
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("RCPT TO:<bob@example.test>")).Last);
        Assert.Empty(await s.QueuedAsync());
        Assert.Empty(s.StoredMessageIds());
    }

    [Theory]
    [InlineData("NOOP\n")]
    [InlineData("NOOP\rMAIL FROM:<evil@other.test>\r\n")]
    [InlineData("MAIL FROM:<evil@other.test>\n")]
    public async Task Bare_CR_or_LF_in_a_command_is_refused_and_not_executed(string line)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.SendAsync(line);
        var reply = await c.ReadReplyAsync();
        Assert.StartsWith("500 5.5.2", reply.Last);
        // No MAIL took effect.
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("RCPT TO:<alice@example.test>")).Last);
    }

    [Fact]
    public async Task Bare_LF_inside_an_otherwise_normal_message_is_refused()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<sender@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        var reply = await c.CommandAsync("Subject: x\r\n\r\nline one\nline two\r\n.");
        Assert.StartsWith("550 5.6.0", reply.Last);
        Assert.Empty(await s.QueuedAsync());
    }
}
