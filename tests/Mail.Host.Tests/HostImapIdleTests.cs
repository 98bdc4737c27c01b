using Mail.Testing;
using MailKit;
using MailKit.Net.Imap;

namespace Mail.Host.Tests;

/// <summary>
/// Issue 6's end-to-end promise: a client IDLE on INBOX over the real gateway is woken by a delivery that the
/// real pipeline makes (swaks → SMTP edge → spool → LocalWorker → mailbox store) in the same `mail serve`.
/// </summary>
[Collection("host")]
public sealed class HostImapIdleTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Delivery_by_the_pipeline_wakes_an_idle_imap_session()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await using var host = await HostProcess.StartAsync(_data.Path);

        using var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        var inbox = imap.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.Equal(0, inbox.Count);

        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        inbox.CountChanged += (_, _) => { if (inbox.Count > 0) arrived.TrySetResult(inbox.Count); };
        // The test's own safety net, not a timing assertion: the gateway promises to wake IDLE within a second.
        using var done = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var idle = imap.IdleAsync(done.Token);

        var swaks = await ExternalProcess.RunAsync("swaks",
            ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "alice@example.org", "--from", "bob@example.net", "--header", "Subject: wake up"]);
        Assert.True(swaks.ExitCode == 0, swaks.StdOut + swaks.StdErr);

        var count = await arrived.Task.WaitAsync(done.Token);
        await done.CancelAsync();
        await idle;
        Assert.Equal(1, count);
        var message = await inbox.GetMessageAsync(0);
        Assert.Equal("wake up", message.Subject);
        await imap.DisconnectAsync(true);
    }
}
