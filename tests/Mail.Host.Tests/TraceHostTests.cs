using Mail.Testing;
using Mail.Testing.Dns;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// `mail trace` after real SMTP sessions with MailKit: a message submitted by alice to a local user and three remote
/// recipients (a scripted peer answers 250, 550 and 450) is traced by its queue id step by step (received from, the
/// checks, delivered to the mailbox, queued outbound, each recipient's attempt and reply, the bounce notice), and by an
/// address; a held message shows as quarantined, then released.
/// </summary>
[Collection("host")]
public sealed class TraceHostTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly TempData _data = new();
    private TestDnsServer _dns = null!;

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "bob@example.org", "--password", "secret");
    }

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
        _data.Dispose();
    }

    [Fact]
    public async Task Trace_by_queue_id_and_by_address_shows_each_step_from_receipt_to_the_remote_replies()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["nobody@example.net"] = "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown";
        peer.RcptReplies["later@example.net"] = "450 4.2.0 <later@example.net>: Recipient address rejected: Greylisted";
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var headerChecks = Path.Combine(_data.Path, "header_checks");
        await File.WriteAllTextAsync(headerChecks, "/^Subject:.*hold me/ HOLD suspicious subject\n");
        var submission = FreePort.Tcp();
        await using var host = await HostProcess.StartAsync(_data.Path,
            "--Smtp:Listeners:1:Name=submission", $"--Smtp:Listeners:1:Endpoint=127.0.0.1:{submission}", "--Smtp:Listeners:1:Role=Submission",
            "--Smtp:AllowPlaintextAuthOnLoopback=true", "--Smtp:HostName=mail.example.org", $"--Defences:HeaderChecks={headerChecks}",
            $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1",
            $"--Outbound:RemotePort={peer.Port}", "--Outbound:MinimalBackoff=00:05:00", "--Outbound:PollInterval=00:00:00.050");

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.org"));
        foreach (var t in new[] { "bob@example.org", "carol@example.net", "nobody@example.net", "later@example.net" }) message.To.Add(MailboxAddress.Parse(t));
        message.Subject = "traced";
        message.Body = new TextPart("plain") { Text = "trace me\r\n" };
        string reply;
        using (var smtp = new SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", submission, SecureSocketOptions.None);
            await smtp.AuthenticateAsync("alice@example.org", "secret");
            reply = await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }
        var queueId = reply[(reply.LastIndexOf(' ') + 1)..].Trim();
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(60));
        await host.WaitForOutputAsync("delivery status notification", TimeSpan.FromSeconds(60));

        var trace = (await HostProcess.AdminOkAsync(_data.Path, "trace", queueId)).StdOut;
        log.WriteLine(trace);
        var lines = trace.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        int At(string step, string text)
        {
            var i = Array.FindIndex(lines, l => l.Contains($"  {step} ", StringComparison.Ordinal) && l.Contains(text, StringComparison.Ordinal));
            Assert.True(i >= 0, $"no step {step} with '{text}' in:\n{trace}");
            return i;
        }
        Assert.StartsWith($"{queueId}  received ", lines[0], StringComparison.Ordinal);
        var received = At("received", "[127.0.0.1]");
        Assert.Contains("authenticated as alice@example.org", lines[received], StringComparison.Ordinal);
        var verdict = At("verdict", "inbox");
        var delivered = At("delivered", "bob@example.org: to bob@example.org INBOX uid 1");
        var queued = At("queued-outbound", "3 remote recipient(s) queued outbound");
        var sent = At("attempt", "carol@example.net: sent, attempt 1: 250");
        var bounced = At("attempt", "nobody@example.net: bounced, attempt 1: 550 5.1.1");
        var deferred = At("attempt", "later@example.net: deferred until");
        Assert.Contains("450 4.2.0", lines[deferred], StringComparison.Ordinal);
        Assert.Contains("(from mx.example.net [127.0.0.1", lines[sent], StringComparison.Ordinal);
        var notice = At("notice", "delivery status notification");
        Assert.True(received < verdict && verdict < delivered && delivered < queued && queued < sent && sent < notice, trace);
        Assert.True(bounced > queued && deferred > queued, trace);
        // Where it is now: the deferred recipient still in the outbound queue.
        Assert.Contains("now: in the outbound queue", trace, StringComparison.Ordinal);
        Assert.Contains("later@example.net deferred", trace, StringComparison.Ordinal);
        // The bounce it caused is traced under its own id (QUEUEID-dsn-...), delivered into alice's INBOX.
        Assert.Contains(lines, l => l.StartsWith(queueId + "-dsn-", StringComparison.Ordinal));

        // By address: the same message for one of its recipients; a held message for bob, then its release.
        var byAddress = (await HostProcess.AdminOkAsync(_data.Path, "trace", "Later@Example.net")).StdOut;
        Assert.Contains($"{queueId}  received", byAddress, StringComparison.Ordinal);
        Assert.Contains("later@example.net: deferred", byAddress, StringComparison.Ordinal);
        // The bounce went to alice, not to later@: its own trace is not listed (only the original's notice step names it).
        Assert.DoesNotContain(byAddress.Split('\n'), l => l.StartsWith(queueId + "-dsn-", StringComparison.Ordinal));

        string held;
        using (var smtp = new SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", host.SmtpPort, SecureSocketOptions.None);
            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("mallory@example.com"));
            m.To.Add(MailboxAddress.Parse("bob@example.org"));
            m.Subject = "please hold me";
            m.Body = new TextPart("plain") { Text = "held\r\n" };
            var r = await smtp.SendAsync(m);
            held = r[(r.LastIndexOf(' ') + 1)..].Trim();
            await smtp.DisconnectAsync(true);
        }
        var quarantined = await HostProcess.PollAsync(async () => (await HostProcess.AdminAsync(_data.Path, "trace", held)).StdOut,
            o => o.Contains("quarantined", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the held message was not traced");
        Assert.Contains(quarantined.Split('\n'), l => l.Contains(" verdict ", StringComparison.Ordinal) && l.Contains("quarantine", StringComparison.Ordinal) && l.Contains("suspicious subject", StringComparison.Ordinal));
        Assert.Contains("now: held in the quarantine (", quarantined, StringComparison.Ordinal);
        await HostProcess.AdminOkAsync(_data.Path, "quarantine", "release", held);
        var released = (await HostProcess.AdminOkAsync(_data.Path, "trace", "bob@example.org")).StdOut;
        Assert.Contains("released from quarantine by an operator", released, StringComparison.Ordinal);
        Assert.Contains("bob@example.org: to bob@example.org INBOX uid 2", released, StringComparison.Ordinal);
        Assert.True(released.IndexOf(held, StringComparison.Ordinal) < released.IndexOf(queueId, StringComparison.Ordinal), "newest first: " + released);

        var none = await HostProcess.AdminAsync(_data.Path, "trace", "nothing-such");
        Assert.Equal(65, none.ExitCode);
        Assert.Equal("mail: nothing recorded for nothing-such (steps are kept 30 days)", none.StdErr.Trim());
    }
}
