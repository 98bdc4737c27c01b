using Mail.Pipeline.Quarantine;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Pipeline.Inbound;
using MimeKit;

namespace Mail.Core.Tests;

public sealed class InboundStageTests : IDisposable
{
    private readonly PipelineFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public async Task Delivers_to_inbox_with_return_path_delivered_to_check_headers_and_the_exact_body()
    {
        var check = new ScriptedCheck(c =>
        {
            Assert.Equal("a folded subject line", c.Message.Subject);
            c.PrependHeaders.Add(new Header("Authentication-Results", "mx.example.org; spf=pass smtp.mailfrom=example.net"));
            c.RemoveHeaders.Add(h => h.Field.Equals("Authentication-Results", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("forged", StringComparison.Ordinal));
        });
        var env = await _f.StoreAsync();
        var result = await _f.Stage(check).ProcessAsync(env);

        Assert.Equal(1, check.Runs);
        var d = Assert.Single(result.Delivered);
        Assert.Equal(("alice@example.org", "INBOX", 1L, false), (d.User, d.Mailbox, d.Uid, d.AlreadyPresent));
        var rec = Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.Equal(env.ReceivedAt, rec.InternalDate);
        var text = await _f.ReadAsync(rec.MessageRef);
        Assert.Equal(text.Length, rec.Size);
        var expectedBody = PipelineFixture.RawMessage[(PipelineFixture.RawMessage.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 2)..];
        Assert.Equal(
            "Return-Path: <sender@example.net>\r\n" +
            "Delivered-To: alice@example.org\r\n" +
            "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.net\r\n" +
            "Received: from mail.example.net by mx.example.org; Sat, 28 Nov 2026 12:00:00 +0000\r\n" +
            "From: Sender <sender@example.net>\r\n" +
            "To: alice@example.org\r\n" +
            "Subject: a folded\r\n subject line\r\n" +
            "Message-ID: <m1@example.net>\r\n" + expectedBody,
            text);
    }

    [Fact]
    public async Task Processing_the_same_envelope_twice_delivers_once()
    {
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "Bob@Example.ORG"]);
        var stage = _f.Stage();
        var first = await stage.ProcessAsync(env);
        var second = await stage.ProcessAsync(env);
        Assert.All(first.Delivered, d => Assert.False(d.AlreadyPresent));
        Assert.All(second.Delivered, d => Assert.True(d.AlreadyPresent));
        Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.Single(await _f.ListAsync("bob@example.org"));
        Assert.Equal(first.Delivered.Select(d => d.MessageRef), second.Delivered.Select(d => d.MessageRef));
    }

    [Fact]
    public async Task Null_sender_gets_an_empty_return_path()
    {
        var env = await _f.StoreAsync() with { MailFrom = "" };
        var result = await _f.Stage().ProcessAsync(env);
        var text = await _f.ReadAsync(Assert.Single(result.Delivered).MessageRef);
        Assert.StartsWith("Return-Path: <>\r\nDelivered-To: alice@example.org\r\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Disposition.Junk, "Junk", false)]
    [InlineData(Disposition.Quarantine, "Junk", true)]
    public async Task Without_a_state_store_junk_and_quarantine_file_to_junk(Disposition disposition, string mailbox, bool quarantineHeader)
    {
        var env = await _f.StoreAsync();
        var result = await _f.Stage(new ScriptedCheck(c => c.Verdict.Require(disposition, "spam score 12"))).ProcessAsync(env);
        Assert.Equal(mailbox, Assert.Single(result.Delivered).Mailbox);
        Assert.Empty(await _f.ListAsync("alice@example.org"));
        var rec = Assert.Single(await _f.ListAsync("alice@example.org", mailbox));
        var text = await _f.ReadAsync(rec.MessageRef);
        Assert.Equal(quarantineHeader, text.Contains("\r\nX-Quarantine: spam score 12\r\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Quarantine_holds_the_message_until_released_into_inbox()
    {
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "someone@remote.example"]);
        var stage = _f.HoldingStage(new ScriptedCheck(c => c.Verdict.Require(Disposition.Quarantine, "header_checks HOLD")));
        var result = await stage.ProcessAsync(env);
        Assert.Equal(Disposition.Quarantine, result.Disposition);
        Assert.Empty(result.Delivered);
        Assert.Empty(result.Remote);
        Assert.Empty(await _f.ListAsync("alice@example.org"));
        Assert.Empty(await _f.ListAsync("alice@example.org", "Junk"));
        Assert.Empty(await _f.Outbound.ListAsync().ToListAsync());
        Assert.True(await _f.Messages.ExistsAsync(env.MessageRef));

        // Processing the same envelope again (a redelivery) holds it once.
        await stage.ProcessAsync(env);
        var entry = Assert.Single(await new QuarantineStore(_f.State).ListAsync());
        Assert.Equal((env.QueueId, "header_checks HOLD", env.MessageRef), (entry.QueueId, entry.Reason, entry.MessageRef));
        Assert.Equal(["alice@example.org", "someone@remote.example"], entry.Recipients);

        var released = await stage.ReleaseAsync(env.QueueId);
        Assert.NotNull(released);
        Assert.Equal("INBOX", Assert.Single(released.Delivered).Mailbox);
        Assert.Equal(["someone@remote.example"], released.Remote);
        var rec = Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.Contains("\r\nX-Quarantine-Released: header_checks HOLD\r\n", await _f.ReadAsync(rec.MessageRef), StringComparison.Ordinal);
        Assert.Single(await _f.Outbound.ListAsync().ToListAsync());
        Assert.Empty(await new QuarantineStore(_f.State).ListAsync());
        // A second release finds nothing and delivers nothing twice.
        Assert.Null(await stage.ReleaseAsync(env.QueueId));
        Assert.Single(await _f.ListAsync("alice@example.org"));
    }

    [Fact]
    public async Task Release_interrupted_after_delivery_is_completed_without_duplicates()
    {
        var env = await _f.StoreAsync();
        var stage = _f.HoldingStage(new ScriptedCheck(c => c.Verdict.Require(Disposition.Quarantine, "held")));
        await stage.ProcessAsync(env);
        // Simulate a release that delivered but died before forgetting the entry: deliver through a second stage...
        var entry = Assert.Single(await new QuarantineStore(_f.State).ListAsync());
        await _f.Stage().ProcessAsync(entry.Envelope);
        // ...then release: the same delivery id is recognised, no second copy.
        var released = await stage.ReleaseAsync(env.QueueId);
        Assert.True(Assert.Single(released!.Delivered).AlreadyPresent);
        Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.False(await _f.Messages.ExistsAsync(env.MessageRef));
    }

    [Fact]
    public async Task Discard_delivers_nothing_anywhere()
    {
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "someone@remote.example"]);
        var result = await _f.Stage(new ScriptedCheck(c => c.Verdict.Require(Disposition.Discard, "virus"))).ProcessAsync(env);
        Assert.Empty(result.Delivered);
        Assert.Empty(result.Remote);
        Assert.Null(await _f.Mailboxes.GetMailboxAsync("alice@example.org", "INBOX"));
        Assert.Empty(await _f.Outbound.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task Remote_recipients_go_to_the_outbound_queue_and_unknown_local_users_are_reported()
    {
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "carol@remote.example", "ghost@example.org"]);
        var result = await _f.Stage().ProcessAsync(env);
        Assert.Equal(["carol@remote.example"], result.Remote);
        Assert.Equal(["ghost@example.org"], result.UnknownLocal);
        Assert.Single(result.Delivered);
        var lease = Assert.Single(await _f.Outbound.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
        Assert.Equal(env.QueueId, lease.Envelope.QueueId);
        Assert.Equal(env.MessageRef, lease.Envelope.MessageRef);
        Assert.Equal(["carol@remote.example"], lease.Envelope.Recipients.Select(r => r.Address));
    }

    [Fact]
    public async Task Redelivery_after_the_original_was_deleted_is_recognised_from_the_copies()
    {
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "bob@example.org"]);
        var stage = _f.Stage();
        await stage.ProcessAsync(env);
        await stage.DeleteOriginalAsync(env);
        var again = await stage.ProcessAsync(env);
        Assert.Equal(2, again.Delivered.Count);
        Assert.All(again.Delivered, d => Assert.True(d.AlreadyPresent));
        Assert.Single(await _f.ListAsync("alice@example.org"));
        Assert.Single(await _f.ListAsync("bob@example.org"));
    }

    [Fact]
    public async Task Redelivery_after_the_user_expunged_the_copy_completes_from_the_trail_and_brings_nothing_back()
    {
        // A crash between deleting the original and completing the envelope: it comes back, and alice has expunged her
        // copy meanwhile (the copy goes with its last row). The trail says her delivery was done: no dead letter.
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "bob@example.org"]);
        var stage = _f.HoldingStage();
        var first = await stage.ProcessAsync(env);
        await stage.DeleteOriginalAsync(env);
        var uid = first.Delivered.Single(d => d.User == "alice@example.org").Uid;
        await _f.Mailboxes.StoreFlagsAsync("alice@example.org", "INBOX", [uid], FlagChange.Add, ["\\Deleted"]);
        await _f.Mailboxes.ExpungeAsync("alice@example.org", "INBOX");
        await _f.Messages.DeleteAsync(DeliveryId.MessageId(env.QueueId, "alice@example.org"));

        var again = await stage.ProcessAsync(env);
        var alice = again.Delivered.Single(d => d.User == "alice@example.org");
        Assert.Equal(("INBOX", uid, true), (alice.Mailbox, alice.Uid, alice.AlreadyPresent));
        Assert.Empty(await _f.ListAsync("alice@example.org"));
        Assert.Single(await _f.ListAsync("bob@example.org"));
    }

    [Fact]
    public async Task Missing_original_without_copies_is_a_permanent_failure_even_for_a_known_envelope()
    {
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "bob@example.org"]);
        var stage = _f.Stage();
        await stage.ProcessAsync(env);
        await stage.DeleteOriginalAsync(env);
        await _f.Messages.DeleteAsync(DeliveryId.MessageId(env.QueueId, "bob@example.org"));
        await Assert.ThrowsAsync<PermanentDeliveryException>(() => stage.ProcessAsync(env));
    }

    [Fact]
    public async Task Missing_raw_message_is_a_permanent_failure()
    {
        var env = await _f.StoreAsync();
        await _f.Messages.DeleteAsync(env.MessageRef);
        await Assert.ThrowsAsync<PermanentDeliveryException>(() => _f.Stage().ProcessAsync(env));
    }

    [Fact]
    public async Task Large_body_is_copied_byte_for_byte()
    {
        var line = new string('x', 76) + "\r\n";
        var raw = "From: a@example.net\r\nSubject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(line, 40_000)); // ~3 MB
        var env = await _f.StoreAsync(raw);
        var result = await _f.Stage().ProcessAsync(env);
        var text = await _f.ReadAsync(Assert.Single(result.Delivered).MessageRef);
        Assert.EndsWith(raw[raw.IndexOf("\r\n\r\n", StringComparison.Ordinal)..], text, StringComparison.Ordinal);
        Assert.Equal("Return-Path: <sender@example.net>\r\nDelivered-To: alice@example.org\r\n".Length + raw.Length, text.Length);
    }
}
