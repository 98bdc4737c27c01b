namespace Mail.Smtp.Tests;

/// <summary>Relay control: our domains and users only; the classic open-relay tricks are refused.</summary>
public sealed class RelayTests
{
    [Theory]
    [InlineData("alice@example.test", "250 2.1.5")]
    [InlineData("ALICE@EXAMPLE.TEST", "250 2.1.5")]
    [InlineData("alice@Example.Test.", "250 2.1.5")]
    [InlineData("@other.test:alice@example.test", "250 2.1.5")]
    [InlineData("nobody@example.test", "550 5.1.1")]
    [InlineData("Postmaster", "250 2.1.5")]
    [InlineData("abuse@EXAMPLE.test", "250 2.1.5")]
    [InlineData("alice+lists@example.test", "250 2.1.5")]
    [InlineData("nobody+lists@example.test", "550 5.1.1")]
    [InlineData("alice%other.test@example.test", "550 5.1.1")]
    [InlineData("\"alice@other.test\"@example.test", "550 5.1.1")]
    [InlineData("other.test!alice@example.test", "550 5.1.1")]
    [InlineData("@example.test:alice@other.test", "554 5.7.1")]
    [InlineData("@example.test,@example.test:alice@other.test", "554 5.7.1")]
    [InlineData("alice@other.test", "554 5.7.1")]
    [InlineData("alice@OTHER.TEST.", "554 5.7.1")]
    [InlineData("alice@sub.example.test", "554 5.7.1")]
    [InlineData("alice@example.test.other.test", "554 5.7.1")]
    [InlineData("alice@[127.0.0.1]", "554 5.7.1")]
    public async Task Recipient_is_accepted_only_for_our_users(string recipient, string expected)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<sender@other.test>")).Code);
        var reply = await c.CommandAsync($"RCPT TO:<{recipient}>");
        Assert.StartsWith(expected, reply.Last);
        if (reply.Code != 250) return;
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: t\r\n\r\nx\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        // Whatever the spelling, the envelope names our user (or a role address or subaddress of our domain that
        // reaches her: RFC 5321 4.5.1, RFC 2142, recipient_delimiter) at our normalised domain and nothing else.
        var rcpt = Assert.Single(env.Recipients);
        Assert.Contains(rcpt.Address.ToLowerInvariant(), new[] { "alice@example.test", "postmaster@example.test", "abuse@example.test", "alice+lists@example.test" });
    }

    [Fact]
    public async Task Bare_postmaster_means_our_postmaster()
    {
        await using var s = await SmtpTestServer.StartAsync();
        await s.Directory.SetUserAsync("postmaster@example.test", "pw");
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<>");
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<PostMaster>")).Code);
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("Subject: hi\r\n\r\nx\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("postmaster@example.test", Assert.Single(env.Recipients).Address);
        Assert.True(env.IsNullSender);
    }
}
