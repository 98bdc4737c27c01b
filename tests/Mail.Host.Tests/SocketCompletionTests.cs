using MailKit.Net.Smtp;
using Mail.Testing;
using MimeKit;

namespace Mail.Host.Tests;

/// <summary>
/// "Sockets:InlineCompletions": a process that runs only the SMTP edge has the runtime run socket continuations on
/// its socket event threads, and whatever blocks on the way (SQLite for the directory and the greylist) still works,
/// from many sessions at once. Everywhere else continuations stay on the thread pool.
/// </summary>
[Collection("host")]
public sealed class SocketCompletionTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task An_edge_alone_runs_socket_continuations_inline_and_its_blocking_steps_still_work()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await using var host = await HostProcess.StartAsync(_data.Path, "--Imap:Enabled=false", "--Pop3:Enabled=false", "--Worker:Enabled=false",
            "--Defences:Greylist:Delay=00:00:01", "--Defences:Greylist:WhitelistRecipients:0=nobody@example.org",
            "--Defences:Restrictions:smtpd_recipient_restrictions=reject_unauth_destination,check_greylist");
        Assert.Contains("socket completions inline", host.Output, StringComparison.Ordinal);

        // Greylisting reads and writes the state store (SQLite) at RCPT: first refused, then accepted after the delay.
        var first = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(host, "alice@example.org", 0));
        Assert.Equal(450, (int)first.StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        // Eight sessions at once, five messages each, while RCPT for an unknown user asks the directory (SQLite).
        var sessions = Enumerable.Range(0, 8).Select(async s =>
        {
            using var client = new SmtpClient();
            await client.ConnectAsync("127.0.0.1", host.SmtpPort, MailKit.Security.SecureSocketOptions.None);
            for (var i = 0; i < 5; i++) await client.SendAsync(Message("alice@example.org", s * 10 + i));
            await client.DisconnectAsync(true);
        }).ToList();
        var unknown = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(host, "nobody@example.org", 99));
        Assert.Equal(550, (int)unknown.StatusCode);
        await Task.WhenAll(sessions);

        // The runtime made one socket event thread per core (with continuations on the pool it makes one).
        if (Environment.ProcessorCount > 1) Assert.Equal(Environment.ProcessorCount, SocketEventThreads(host.ProcessId));

        Assert.Equal(0, await host.TerminateAsync());
        var queue = await HostProcess.AdminOkAsync(_data.Path, "queue");
        Assert.Contains("-- 40 envelope(s)", queue.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("socket completions pooled")]
    [InlineData("socket completions pooled", "--Imap:Enabled=false")]
    [InlineData("socket completions pooled", "--Imap:Enabled=false", "--Worker:Enabled=false")]
    [InlineData("socket completions pooled", "--Imap:Enabled=false", "--Pop3:Enabled=false", "--Worker:Enabled=false", "--Sockets:InlineCompletions=false")]
    [InlineData("socket completions inline", "--Sockets:InlineCompletions=true")]
    public async Task Only_an_edge_alone_or_an_explicit_setting_turns_them_on(string expected, params string[] settings)
    {
        await using var host = await HostProcess.StartAsync(_data.Path, settings);
        Assert.Contains(expected, host.Output, StringComparison.Ordinal);
    }

    private static async Task SendAsync(HostProcess host, string to, int n)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", host.SmtpPort, MailKit.Security.SecureSocketOptions.None);
        await client.SendAsync(Message(to, n));
        await client.DisconnectAsync(true);
    }

    private static MimeMessage Message(string to, int n)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("bob@example.net"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = $"message {n}";
        message.Body = new TextPart("plain") { Text = $"body {n}" };
        return message;
    }

    private static int SocketEventThreads(int pid) =>
        Directory.GetDirectories($"/proc/{pid}/task").Count(t => File.ReadAllText(Path.Combine(t, "comm")).TrimEnd() == ".NET Sockets");
}
