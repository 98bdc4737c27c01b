using Mail.Core.Model;
using Mail.Pipeline.Inbound;

namespace Mail.Core.Tests;

/// <summary>The inbound stage with a user's active Sieve script, over the real embedded stores.</summary>
public sealed class SieveDeliveryTests : IDisposable
{
    private readonly PipelineFixture _f = new();

    public void Dispose() => _f.Dispose();

    private async Task ActivateAsync(string script, string user = "alice@example.org")
    {
        Assert.Null(Mail.Sieve.SieveScript.Check(script));
        await _f.Directory_.Sieve.PutAsync(user, "s", script);
        Assert.True(await _f.Directory_.Sieve.ActivateAsync(user, "s"));
    }

    private async Task<List<Envelope>> OutboundAsync() => [.. (await _f.Outbound.ListAsync().ToListAsync()).Select(e => e.Envelope)];

    [Fact]
    public async Task A_rerun_after_a_crash_stores_redirects_and_answers_once()
    {
        await ActivateAsync("""
            require ["fileinto", "copy", "vacation", "imap4flags"];
            fileinto :copy :flags "\\Seen" "Projects";
            redirect :copy "carol@example.com";
            vacation "away";
            """);
        await _f.Mailboxes.EnsureUserMailboxesAsync("alice@example.org");
        await _f.Mailboxes.CreateMailboxAsync("alice@example.org", "Projects");
        var env = await _f.StoreAsync();
        var stage = _f.HoldingStage();
        await stage.ProcessAsync(env);
        await stage.ProcessAsync(env);

        Assert.Single(await _f.ListAsync("alice@example.org"));
        var archived = Assert.Single(await _f.ListAsync("alice@example.org", "Projects"));
        Assert.Contains("\\Seen", archived.Flags);
        var queued = await OutboundAsync();
        Assert.Equal(2, queued.Count);
        var redirect = Assert.Single(queued, q => q.Recipients[0].Address == "carol@example.com");
        Assert.Equal("sender@example.net", redirect.MailFrom); // no SRS configured in this directory: the original sender
        var vacation = Assert.Single(queued, q => q.Recipients[0].Address == "sender@example.net");
        Assert.Equal("", vacation.MailFrom);
        var reply = await _f.ReadAsync(vacation.MessageRef);
        Assert.Contains("Auto-Submitted: auto-replied", reply, StringComparison.Ordinal);
        Assert.Contains("In-Reply-To: <m1@example.net>", reply, StringComparison.Ordinal);
        Assert.Contains("Subject: Auto: a folded subject line", reply, StringComparison.Ordinal);

        // A second message from the same sender within :days: stored, not answered again.
        await stage.ProcessAsync(await _f.StoreAsync());
        var after = await OutboundAsync();
        Assert.Single(after, q => q.MailFrom.Length == 0);
        Assert.Equal(2, after.Count(q => q.Recipients[0].Address == "carol@example.com"));
    }

    [Fact]
    public async Task A_message_the_edge_inspected_is_parsed_only_when_asked_and_checks_and_scripts_see_it_as_before()
    {
        await ActivateAsync("""
            require "fileinto";
            if header :contains "subject" "folded" { fileinto "Projects"; }
            """);
        await _f.Mailboxes.EnsureUserMailboxesAsync("alice@example.org");
        await _f.Mailboxes.CreateMailboxAsync("alice@example.org", "Projects");
        string? subject = null;
        var reads = new ScriptedCheck(c => subject = c.Message.Subject);
        // The edge's record that it parsed and inspected the stored message: the stage leaves the parse to whoever asks.
        var env = (await _f.StoreAsync()) with
        {
            ConnectionResults = new Dictionary<string, string> { [Mail.Core.InboundChecks.EdgeContentInspection.ResultName] = "none 0" },
        };
        await _f.Stage(reads).ProcessAsync(env);
        Assert.Equal("a folded subject line", subject);
        Assert.Single(await _f.ListAsync("alice@example.org", "Projects"));
        Assert.Empty(await _f.ListAsync("alice@example.org"));
    }

    [Fact]
    public async Task Junk_comes_first_the_script_sees_the_verdict_and_can_override_it()
    {
        await ActivateAsync("""
            require "fileinto";
            if header :contains "X-Spam-Status" "Yes" { if header :contains "subject" "folded" { fileinto "INBOX"; } }
            """);
        var spam = new ScriptedCheck(c =>
        {
            c.Verdict.Require(Disposition.Junk, "spam score 9");
            c.PrependHeaders.Add(new MimeKit.Header("X-Spam-Status", "Yes, score=9"));
        });
        await _f.Stage(spam).ProcessAsync(await _f.StoreAsync());
        Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.Empty(await _f.ListAsync("alice@example.org", "Junk"));

        await ActivateAsync("keep;");
        await _f.Stage(spam).ProcessAsync(await _f.StoreAsync());
        Assert.Single(await _f.ListAsync("alice@example.org", "Junk"));
    }

    [Fact]
    public async Task Reject_files_to_junk_and_sends_nothing_discard_stores_nothing()
    {
        await ActivateAsync("require \"reject\";\nreject \"no thanks\";");
        await _f.HoldingStage().ProcessAsync(await _f.StoreAsync());
        Assert.Single(await _f.ListAsync("alice@example.org", "Junk"));
        Assert.Empty(await _f.ListAsync("alice@example.org"));
        Assert.Empty(await OutboundAsync());

        await ActivateAsync("discard;", "bob@example.org");
        var result = await _f.HoldingStage().ProcessAsync(await _f.StoreAsync(recipients: "bob@example.org"));
        Assert.Empty(result.Delivered);
        Assert.Empty(await _f.ListAsync("bob@example.org"));
    }

    [Fact]
    public async Task Fileinto_a_missing_mailbox_without_create_keeps_and_a_vacation_to_a_list_is_not_sent()
    {
        await ActivateAsync("require [\"fileinto\", \"vacation\"];\nfileinto \"Nowhere\";\nvacation \"away\";");
        const string list = "From: list@example.net\r\nTo: alice@example.org\r\nList-Id: <l.example.net>\r\nSubject: x\r\n\r\nbody\r\n";
        await _f.HoldingStage().ProcessAsync(await _f.StoreAsync(list));
        Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.Null(await _f.Mailboxes.GetMailboxAsync("alice@example.org", "Nowhere"));
        Assert.Empty(await OutboundAsync());
    }

    [Fact]
    public async Task A_redirect_to_a_local_address_is_not_followed_and_the_message_is_kept()
    {
        await ActivateAsync("redirect \"bob@example.org\";");
        await _f.HoldingStage().ProcessAsync(await _f.StoreAsync());
        Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.Empty(await OutboundAsync());
    }

    [Theory]
    [InlineData("sender@example.net", "To: alice@example.org\r\nAuto-Submitted: auto-generated\r\n", false)]
    [InlineData("sender@example.net", "To: alice@example.org\r\nAuto-Submitted: no\r\n", true)]
    [InlineData("sender@example.net", "To: alice@example.org\r\nPrecedence: junk\r\n", false)]
    [InlineData("owner-team@example.net", "To: alice@example.org\r\n", false)]
    [InlineData("team-request@example.net", "To: alice@example.org\r\n", false)]
    [InlineData("alice@example.org", "To: alice@example.org\r\n", false)]
    [InlineData("sender@example.net", "To: someone@example.net\r\nBcc: x@example.net\r\n", false)]
    [InlineData("sender@example.net", "To: someone@example.net\r\nCc: Alice <alice+tag@example.org>\r\n", true)]
    [InlineData("sender@example.net", "To: other@example.com\r\n", true)] // named through :addresses
    public async Task Vacation_follows_rfc_3834(string sender, string headers, bool replied)
    {
        await ActivateAsync("require \"vacation\";\nvacation :addresses \"other@example.com\" \"away\";");
        var env = await _f.StoreAsync("From: " + sender + "\r\n" + headers + "Subject: s\r\n\r\nbody\r\n");
        await _f.HoldingStage().ProcessAsync(env with { MailFrom = sender });
        Assert.Equal(replied ? 1 : 0, (await OutboundAsync()).Count);
    }
}
