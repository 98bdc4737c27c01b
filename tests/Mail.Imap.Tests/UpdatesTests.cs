using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Mail.Imap.Tests;

/// <summary>Untagged updates between sessions and from deliveries straight into the mailbox store (as the pipeline does).</summary>
public sealed class UpdatesTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<ImapClient> ConnectAsync()
    {
        var client = new ImapClient { Timeout = 15000 };
        await client.ConnectAsync("127.0.0.1", _server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        return client;
    }

    [Fact]
    public async Task Delivery_into_the_store_wakes_an_idle_session()
    {
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.Equal(0, client.Inbox.Count);
        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Inbox.CountChanged += (_, _) => arrived.TrySetResult(client.Inbox.Count);
        using var done = new CancellationTokenSource();
        var idle = client.IdleAsync(done.Token);
        await Task.Delay(300); // let IDLE start before the delivery
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("while idle"));
        var count = await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await done.CancelAsync();
        await idle;
        Assert.Equal(1, count);
        var summary = (await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope))[0];
        Assert.Equal("while idle", summary.Envelope!.Subject);
    }

    [Fact]
    public async Task Flag_changes_and_expunges_by_one_session_reach_an_idle_session()
    {
        for (var i = 0; i < 3; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
        using var watcher = await ConnectAsync();
        using var actor = await ConnectAsync();
        await watcher.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await actor.Inbox.OpenAsync(FolderAccess.ReadWrite);

        var flagged = new TaskCompletionSource<(int Index, MessageFlags Flags)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var expunged = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.Inbox.MessageFlagsChanged += (_, e) => flagged.TrySetResult((e.Index, e.Flags));
        watcher.Inbox.MessageExpunged += (_, e) => expunged.TrySetResult(e.Index);
        using var done = new CancellationTokenSource();
        var idle = watcher.IdleAsync(done.Token);
        await Task.Delay(300);

        await actor.Inbox.AddFlagsAsync(1, MessageFlags.Flagged, true);
        var f = await flagged.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, f.Index);
        Assert.True(f.Flags.HasFlag(MessageFlags.Flagged));

        await actor.Inbox.AddFlagsAsync(0, MessageFlags.Deleted, true);
        await actor.Inbox.ExpungeAsync();
        Assert.Equal(0, await expunged.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await done.CancelAsync();
        await idle;
        Assert.Equal(2, watcher.Inbox.Count);
    }

    [Fact]
    public async Task Noop_reports_new_mail_and_expunge_is_deferred_during_fetch()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("first"));
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "SELECT INBOX");
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("second"));
        var r = await raw.CommandAsync("n", "NOOP");
        Assert.Contains("* 2 EXISTS", r);

        // Another session deletes message 1: a FETCH must not report EXPUNGE (sequence numbers would shift), NOOP then does.
        var first = (await _server.Mailboxes.ListMessagesAsync(ImapTestServer.Alice, "INBOX"))[0];
        await _server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [first.Uid], Core.Ports.FlagChange.Add, ["\\Deleted"]);
        await _server.Mailboxes.ExpungeAsync(ImapTestServer.Alice, "INBOX");
        r = await raw.CommandAsync("f", "FETCH 1:2 (UID)");
        Assert.DoesNotContain(r, l => l.EndsWith("EXPUNGE", StringComparison.Ordinal));
        r = await raw.CommandAsync("n2", "NOOP");
        Assert.Contains("* 1 EXPUNGE", r);
        r = await raw.CommandAsync("f2", "FETCH 1 (UID)");
        Assert.Contains(r, l => l.StartsWith("* 1 FETCH (UID 2)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Raw_idle_protocol_continuation_and_done()
    {
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "SELECT INBOX");
        await raw.SendLineAsync("i IDLE");
        Assert.StartsWith("+ ", await raw.ReadLineAsync());
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("idle raw"));
        Assert.Equal("* 1 EXISTS", await raw.ReadLineAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("* 1 RECENT", await raw.ReadLineAsync(TimeSpan.FromSeconds(5))); // this session saw it first
        await raw.SendLineAsync("DONE");
        Assert.Equal("i OK IDLE terminated", await raw.ReadLineAsync());
    }
}
