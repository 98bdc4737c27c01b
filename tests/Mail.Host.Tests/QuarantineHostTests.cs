using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>A header_checks HOLD quarantines over the real host: the user sees nothing until an operator releases it.</summary>
[Collection("host")]
public sealed class QuarantineHostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Held_message_is_listed_not_delivered_and_released_into_inbox()
    {
        var headerChecks = Path.Combine(_data.Path, "header_checks");
        await File.WriteAllTextAsync(headerChecks, "/^Subject:.*hold me/ HOLD suspicious subject\n");
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        var empty = await HostProcess.AdminOkAsync(_data.Path, "quarantine", "list");
        Assert.Contains("Quarantine is empty", empty.StdOut, StringComparison.Ordinal);

        await using var host = await HostProcess.StartAsync(_data.Path, $"--Defences:HeaderChecks={headerChecks}");
        var held = await Swaks(host, "Subject: please hold me");
        Assert.True(held.ExitCode == 0, held.StdOut + held.StdErr); // accepted: HOLD is not a rejection
        var normal = await Swaks(host, "Subject: hello");
        Assert.True(normal.ExitCode == 0, normal.StdOut + normal.StdErr);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));

        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        Assert.Single(await mailboxes.ListMessagesAsync("alice@example.org", "INBOX")); // only "hello"
        Assert.Empty(await mailboxes.ListMessagesAsync("alice@example.org", "Junk"));

        var list = await HostProcess.AdminOkAsync(_data.Path, "quarantine", "list");
        Assert.Contains("please hold me", list.StdOut, StringComparison.Ordinal);
        Assert.Contains("suspicious subject", list.StdOut, StringComparison.Ordinal);
        Assert.Contains("1 message(s) held", list.StdOut, StringComparison.Ordinal);
        var queueId = list.StdOut.Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];

        var release = await HostProcess.AdminOkAsync(_data.Path, "quarantine", "release", queueId);
        Assert.Contains("delivered to alice@example.org INBOX", release.StdOut, StringComparison.Ordinal);
        var inbox = await mailboxes.ListMessagesAsync("alice@example.org", "INBOX");
        Assert.Equal(2, inbox.Count);
        var texts = await Task.WhenAll(inbox.Select(m => DeliveredCopies.ReadTextAsync(_data.Path, m.MessageRef)));
        Assert.Single(texts, t => t.Contains("please hold me", StringComparison.Ordinal));
        Assert.Contains("Quarantine is empty", (await HostProcess.AdminOkAsync(_data.Path, "quarantine", "list")).StdOut, StringComparison.Ordinal);

        // Releasing again is an error naming the id, and delivers nothing twice.
        var again = await HostProcess.AdminAsync(_data.Path, "quarantine", "release", queueId);
        Assert.Equal(65, again.ExitCode);
        Assert.Contains($"no quarantined message {queueId}", again.StdErr, StringComparison.Ordinal);
        Assert.Equal(2, (await mailboxes.ListMessagesAsync("alice@example.org", "INBOX")).Count);
    }

    [Fact]
    public async Task Delete_drops_the_held_message()
    {
        var headerChecks = Path.Combine(_data.Path, "header_checks");
        await File.WriteAllTextAsync(headerChecks, "/^Subject:.*hold me/ HOLD\n");
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await using (var host = await HostProcess.StartAsync(_data.Path, $"--Defences:HeaderChecks={headerChecks}"))
        {
            Assert.Equal(0, (await Swaks(host, "Subject: hold me")).ExitCode);
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        }
        var list = await HostProcess.AdminOkAsync(_data.Path, "quarantine", "list");
        var queueId = list.StdOut.Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        Assert.True(await OriginalExistsAsync(queueId));

        var delete = await HostProcess.AdminOkAsync(_data.Path, "quarantine", "delete", queueId);
        Assert.Contains($"{queueId} deleted", delete.StdOut, StringComparison.Ordinal);
        Assert.Contains("Quarantine is empty", (await HostProcess.AdminOkAsync(_data.Path, "quarantine", "list")).StdOut, StringComparison.Ordinal);
        Assert.False(await OriginalExistsAsync(queueId));
        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        Assert.Empty(await mailboxes.ListMessagesAsync("alice@example.org", "INBOX"));
        Assert.Equal(65, (await HostProcess.AdminAsync(_data.Path, "quarantine", "delete", queueId)).ExitCode);
    }

    /// <summary>The edge keeps what it accepted, under the queue id, in the spool's segments.</summary>
    private async Task<bool> OriginalExistsAsync(string queueId)
    {
        using var originals = new SegmentMessageStore(Path.Combine(_data.Path, "queue", "messages"));
        return await originals.ExistsAsync(queueId);
    }

    private static Task<ExternalProcess.Result> Swaks(HostProcess host, string header) =>
        ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "alice@example.org", "--from", "bob@example.net",
            "--header", header]);
}
