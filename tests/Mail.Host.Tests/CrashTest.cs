using Mail.Testing;
using System.Collections.Concurrent;
using Mail.Storage.Embedded;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// SIGKILL the host while a client sends; after a restart every message that got a 250 is in the mailbox
/// exactly once (and no message is there twice).
/// </summary>
[Collection("host")]
public sealed class CrashTest(ITestOutputHelper log) : IDisposable
{
    private const int Messages = 300;
    private const int KillAfterAccepted = 120;
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Every_message_that_got_250_survives_a_sigkill_exactly_once()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");

        var accepted = new ConcurrentDictionary<string, string>();
        var host = await HostProcess.StartAsync(_data.Path);
        Task? kill = null;
        using (var client = new SmtpClient())
        {
            client.Timeout = 30_000;
            await client.ConnectAsync("127.0.0.1", host.SmtpPort, SecureSocketOptions.None);
            var body = new string('x', 70) + "\r\n";
            for (var i = 0; i < Messages; i++)
            {
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("bob@example.net"));
                message.To.Add(MailboxAddress.Parse("alice@example.org"));
                message.Subject = $"crash {i}";
                message.MessageId = $"crash-{i}@test";
                message.Body = new TextPart("plain") { Text = string.Concat(Enumerable.Repeat(body, 30)) };
                try
                {
                    var reply = await client.SendAsync(message);
                    Assert.Contains("queued as", reply, StringComparison.Ordinal);
                    accepted[message.MessageId] = reply;
                }
                catch (Exception e) when (e is SmtpProtocolException or IOException or SmtpCommandException or ServiceNotConnectedException)
                {
                    // The server died under us: nothing after this point was acknowledged.
                    break;
                }
                // Kill from another task so it lands at an arbitrary point of a transaction, not between two.
                if (accepted.Count == KillAfterAccepted) kill = Task.Run(host.KillAsync);
            }
        }
        Assert.NotNull(kill);
        await kill;
        Assert.True(host.HasExited);
        await host.DisposeAsync();
        Assert.True(accepted.Count >= KillAfterAccepted, $"only {accepted.Count} accepted");
        Assert.True(accepted.Count < Messages, "the kill did not interrupt the client");

        await using (var restarted = await HostProcess.StartAsync(_data.Path))
        {
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(90));
            Assert.Equal(0, await restarted.TerminateAsync());
        }

        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        var seen = new Dictionary<string, int>();
        foreach (var record in await mailboxes.ListMessagesAsync("alice@example.org", "INBOX"))
        {
            await using var s = await DeliveredCopies.TryOpenAsync(_data.Path, record.MessageRef);
            Assert.NotNull(s);
            var headers = await HeaderList.LoadAsync(s);
            var id = MimeKit.Utils.MimeUtils.EnumerateReferences(headers[HeaderId.MessageId] ?? "").Single();
            seen[id] = seen.GetValueOrDefault(id) + 1;
        }
        foreach (var id in accepted.Keys) Assert.True(seen.GetValueOrDefault(id) == 1, $"{id} got 250 but is in the mailbox {seen.GetValueOrDefault(id)} time(s)");
        Assert.All(seen, kv => Assert.Equal(1, kv.Value));
        // At most the one message in flight at the kill may be delivered without its 250 having reached the client.
        Assert.InRange(seen.Count - accepted.Count, 0, 1);
        log.WriteLine($"accepted {accepted.Count} of {Messages} before SIGKILL; {seen.Count} in the mailbox after restart");
    }
}
