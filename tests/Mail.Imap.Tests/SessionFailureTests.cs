using MailKit;
using System.Text;

namespace Mail.Imap.Tests;

/// <summary>
/// A session that fails ends cleanly and says why in the log: a client gone in the middle of a command (an APPEND
/// literal half sent, a FETCH response half read) gets one Information line naming user, command and cause; a store
/// failure while the session reports mailbox changes after a command (outside the command's NO [SERVERBUG] catch)
/// gets an Error line and the client a BYE. Other sessions are served on.
/// </summary>
public sealed class SessionFailureTests
{
    private static bool LostDuring(string line, string tagAndCommand) =>
        line.StartsWith("Information: IMAP connection from ", StringComparison.Ordinal)
        && line.Contains($"({ImapTestServer.Alice}) lost during {tagAndCommand}:", StringComparison.Ordinal);

    [Fact]
    public async Task Client_gone_in_the_middle_of_an_APPEND_literal_is_logged_and_others_are_served()
    {
        var logs = new ListLoggerFactory();
        await using var server = await ImapTestServer.StartAsync(logs);
        await using (var c = await RawImapClient.ConnectAsync(server.Port))
        {
            await c.LoginAsync();
            await c.SendLineAsync("a1 APPEND INBOX {1000}");
            Assert.StartsWith("+", await c.ReadLineAsync());
            await c.SendAsync(new string('x', 100));
        }
        var line = await logs.WaitForAsync(l => LostDuring(l, "a1 APPEND"));
        Assert.Contains("literal of 1000 octets", line, StringComparison.Ordinal);
        Assert.Equal(0, (await server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "INBOX"))!.MessageCount);

        await AssertServedAsync(server);
    }

    [Fact]
    public async Task Client_reset_in_the_middle_of_a_big_FETCH_is_logged_and_others_are_served()
    {
        var logs = new ListLoggerFactory();
        await using var server = await ImapTestServer.StartAsync(logs);
        // More than loopback's socket buffers hold, so the server is still writing when the reset arrives.
        var body = new StringBuilder();
        while (body.Length < 3_000_000) body.Append("A line of a long message body, sent again and again.\r\n");
        for (var i = 0; i < 8; i++) await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"big {i}", body.ToString()));
        await using (var c = await RawImapClient.SelectAsync(server.Port))
        {
            await c.SendLineAsync("f1 FETCH 1:* BODY.PEEK[]");
            Assert.StartsWith("* 1 FETCH", await c.ReadLineAsync());
            c.Reset();
        }
        await logs.WaitForAsync(l => LostDuring(l, "f1 FETCH"));

        await AssertServedAsync(server);
    }

    [Fact]
    public async Task Store_failure_while_reporting_changes_after_a_command_is_logged_and_answered_with_BYE()
    {
        var logs = new ListLoggerFactory();
        ChangeBetweenReadsStore store = null!;
        await using var server = await ImapTestServer.StartAsync(logs, inner => store = new ChangeBetweenReadsStore(inner));
        await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("one"));
        await using (var c = await RawImapClient.SelectAsync(server.Port))
        {
            store.FailMailboxLookups = true;
            // NOOP's own work cannot fail; the refresh after it (RFC 9051 6.1.2: NOOP is how clients poll) does.
            var lines = await c.CommandAsync("n1", "NOOP");
            Assert.Equal(["* BYE [SERVERBUG] Internal error while reporting mailbox changes; the failure was logged", "n1 OK NOOP completed"], lines);
            Assert.Null(await c.ReadLineAsync());
        }
        var line = Assert.Single(logs.Lines, l => l.StartsWith("Error: IMAP n1 NOOP for " + ImapTestServer.Alice, StringComparison.Ordinal));
        Assert.Contains("reporting mailbox changes failed, session closed: System.InvalidOperationException: mailbox store unavailable (test)", line, StringComparison.Ordinal);
        Assert.EndsWith("[InvalidOperationException]", line, StringComparison.Ordinal);

        store.FailMailboxLookups = false;
        await AssertServedAsync(server);
    }

    [Fact]
    public async Task Store_failure_while_IDLE_polls_is_logged_and_answered_with_BYE()
    {
        var logs = new ListLoggerFactory();
        ChangeBetweenReadsStore store = null!;
        await using var server = await ImapTestServer.StartAsync(logs, inner => store = new ChangeBetweenReadsStore(inner));
        await using (var c = await RawImapClient.SelectAsync(server.Port))
        {
            await c.SendLineAsync("i1 IDLE");
            Assert.StartsWith("+", await c.ReadLineAsync());
            store.FailMailboxLookups = true;
            Assert.Equal("* BYE [SERVERBUG] Internal error while reporting mailbox changes; the failure was logged", await c.ReadLineAsync());
            Assert.Equal("i1 NO [SERVERBUG] IDLE ended by an internal error; the failure was logged", await c.ReadLineAsync());
            Assert.Null(await c.ReadLineAsync());
        }
        Assert.Contains(logs.Lines, l => l.StartsWith("Error: IMAP i1 IDLE for " + ImapTestServer.Alice, StringComparison.Ordinal));
        store.FailMailboxLookups = false;
        await AssertServedAsync(server);
    }

    /// <summary>Another client is served as before: logs in, appends, reads the message back.</summary>
    private static async Task AssertServedAsync(ImapTestServer server)
    {
        using var client = await server.ConnectAliceAsync();
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        var before = inbox.Count;
        using var message = MimeKit.MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(ImapTestServer.Message("after the failure"))));
        await inbox.AppendAsync(message, MessageFlags.None);
        await inbox.CheckAsync();
        Assert.Equal(before + 1, inbox.Count);
        Assert.Equal("after the failure", (await inbox.GetMessageAsync(before)).Subject);
        await client.DisconnectAsync(true);
    }
}
