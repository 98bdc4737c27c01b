using System.Globalization;
using Mail.Testing;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Mail.Smtp.Tests;

/// <summary>Real third-party clients: swaks and Python's smtplib (MailKit is in TlsTests).</summary>
public sealed class ClientTests
{
    private static string Port(System.Net.IPEndPoint ep) => ep.Port.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task Parallel_mailkit_sessions_each_get_their_own_messages_queued()
    {
        await using var s = await SmtpTestServer.StartAsync();
        const int clients = 10, perClient = 5;
        var replies = await Task.WhenAll(Enumerable.Range(0, clients).Select(async n =>
        {
            using var client = new SmtpClient();
            client.ServerCertificateValidationCallback = SmtpTestServer.IsTestCertificate;
            await client.ConnectAsync("127.0.0.1", s.Mx.Port, n % 2 == 0 ? SecureSocketOptions.StartTls : SecureSocketOptions.None);
            var ids = new List<(string Id, string Subject)>();
            for (var i = 0; i < perClient; i++)
            {
                var m = new MimeMessage();
                m.From.Add(MailboxAddress.Parse($"c{n}@other.test"));
                m.To.Add(MailboxAddress.Parse(i % 2 == 0 ? "alice@example.test" : "bob@example.test"));
                m.Subject = $"client {n} message {i}";
                m.Body = new TextPart("plain") { Text = new string('x', 3000 + n * 100 + i) };
                var response = await client.SendAsync(m);
                ids.Add((response.Split(' ')[^1], m.Subject));
            }
            await client.DisconnectAsync(true);
            return ids;
        }));
        var all = replies.SelectMany(r => r).ToList();
        Assert.Equal(clients * perClient, all.Select(a => a.Id).Distinct().Count());
        var queued = (await s.QueuedAsync()).ToDictionary(e => e.QueueId);
        Assert.Equal(clients * perClient, queued.Count);
        foreach (var (id, subject) in all)
        {
            var text = await s.ReadMessageAsync(queued[id].MessageRef);
            Assert.Contains($"Subject: {subject}\r\n", text);
        }
    }

    [Fact]
    public async Task Swaks_sends_with_starttls_and_pipelining()
    {
        await using var s = await SmtpTestServer.StartAsync();
        var r = await ExternalProcess.RunAsync("swaks", ["--server", "127.0.0.1", "--port", Port(s.Mx), "--from", "swaks@other.test",
            "--to", "alice@example.test", "--helo", "swaks.client.test", "--tls", "--pipeline", "--header", "Subject: from swaks"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        Assert.Contains("250 2.0.0 Ok: queued as", r.StdOut);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("ESMTPS", env.Client.Protocol);
        Assert.Contains("Subject: from swaks", await s.ReadMessageAsync(env.MessageRef));
    }

    [Fact]
    public async Task Swaks_over_implicit_tls()
    {
        await using var s = await SmtpTestServer.StartAsync();
        var r = await ExternalProcess.RunAsync("swaks", ["--server", "127.0.0.1", "--port", Port(s.Submissions), "--from", "alice@example.test",
            "--to", "bob@example.test", "--tls-on-connect", "--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "secret"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        Assert.Equal("submissions", Assert.Single(await s.QueuedAsync()).Client.Listener);
    }

    [Fact]
    public async Task Swaks_relay_attempt_is_refused()
    {
        await using var s = await SmtpTestServer.StartAsync();
        var r = await ExternalProcess.RunAsync("swaks", ["--server", "127.0.0.1", "--port", Port(s.Mx), "--from", "spam@other.test",
            "--to", "victim@elsewhere.test"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("554 5.7.1", r.StdOut);
        Assert.Empty(await s.QueuedAsync());
    }

    [Fact]
    public async Task Python_smtplib_sends_several_messages_on_one_connection_with_starttls()
    {
        await using var s = await SmtpTestServer.StartAsync();
        var script = """
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.starttls(context=ctx)
s.ehlo()
for i in range(5):
    s.sendmail('py@other.test', ['alice@example.test', 'bob@example.test'], f'Subject: n{i}\r\n\r\nbody {i}\r\n.dot\r\n')
try:
    s.sendmail('py@other.test', ['victim@elsewhere.test'], 'Subject: relay\r\n\r\nx\r\n')
    print('relayed')
except smtplib.SMTPRecipientsRefused as e:
    print('refused', e.recipients['victim@elsewhere.test'][0])
s.quit()
""";
        var r = await ExternalProcess.RunAsync("python3", ["-c", script, Port(s.Mx)]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal("refused 554", r.StdOut.Trim());
        var queued = await s.QueuedAsync();
        Assert.Equal(5, queued.Count);
        Assert.All(queued, e => Assert.Equal("ESMTPS", e.Client.Protocol));
        foreach (var e in queued) Assert.Contains("\r\n..dot\r\n".Replace("..", ".", StringComparison.Ordinal), await s.ReadMessageAsync(e.MessageRef));
    }
}
