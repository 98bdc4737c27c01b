using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>
/// `mail serve` behind a real HAProxy on loopback (Smtp/Imap:Listeners:0:ProxyProtocol, ProxyNetworks 127.0.0.1): a
/// client on 127.0.0.9 talks to HAProxy, HAProxy (from 127.0.0.1) to `mail`; `mail` must see 127.0.0.9 in Received:,
/// in the SPF result, in the EHLO reply and in the IMAP login log, over v1 (send-proxy) and v2 (send-proxy-v2).
/// </summary>
[Collection("host")]
public sealed class ProxyProtocolHostTests : IDisposable
{
    private const string Client = "127.0.0.9";
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private static readonly string[] ProxySettings =
    [
        "--Smtp:Listeners:0:ProxyProtocol=true", "--Smtp:ProxyNetworks:0=127.0.0.1",
        "--Imap:Listeners:0:ProxyProtocol=true", "--Imap:ProxyNetworks:0=127.0.0.1",
    ];

    private async Task<HostProcess> StartAsync(params string[] extra)
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        return await HostProcess.StartAsync(_data.Path, [.. ProxySettings, .. extra]);
    }

    [Fact]
    public async Task Client_behind_haproxy_is_the_client_in_received_spf_ehlo_and_imap_logins()
    {
        await using var host = await StartAsync();
        await using var haproxy = await HaproxyProcess.StartAsync(
            new("smtp_v2", "send-proxy-v2", host.Smtp),
            new("smtp_v1", "send-proxy", host.Smtp),
            new("imap_v2", "send-proxy-v2", new IPEndPoint(IPAddress.Loopback, host.ImapPort)));

        // Python's smtplib from 127.0.0.9, once through each frontend; it prints the EHLO reply's first line.
        var subject = "proxied " + Guid.NewGuid().ToString("N")[..8];
        var script = $$"""
            import smtplib
            for port, tag in (({{haproxy.Ports["smtp_v2"]}}, "v2"), ({{haproxy.Ports["smtp_v1"]}}, "v1")):
                s = smtplib.SMTP("127.0.0.1", port, source_address=("{{Client}}", 0), timeout=30)
                code, text = s.ehlo("client.example.net")
                print(tag, code, text.decode().splitlines()[0])
                s.sendmail("bob@example.net", ["alice@example.org"],
                    b"From: bob@example.net\r\nTo: alice@example.org\r\nSubject: {{subject}} " + tag.encode() + b"\r\n\r\nhi\r\n")
                s.quit()
            """;
        var run = await ExternalProcess.RunAsync("python3", ["-c", script]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr + host.Output + haproxy.Output);
        var lines = run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.EndsWith($"Hello client.example.net [{Client}]", l, StringComparison.Ordinal));

        // Both delivered copies, read from the data directory: the edge's Received: and the inbound stage's SPF
        // result name the client HAProxy relayed, not HAProxy.
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        var records = await mailboxes.ListMessagesAsync("alice@example.org", "INBOX");
        Assert.Equal(2, records.Count);
        foreach (var record in records)
        {
            var raw = await DeliveredCopies.ReadTextAsync(_data.Path, record.MessageRef);
            var header = raw[..raw.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
            Assert.Contains($"Received: from client.example.net ([{Client}])", header, StringComparison.Ordinal);
            Assert.Contains($"client-ip={Client};", header, StringComparison.Ordinal);
            Assert.DoesNotContain("127.0.0.1", header, StringComparison.Ordinal);
        }

        // IMAP through HAProxy (v2) from 127.0.0.9: a wrong password is logged with the relayed address, then the
        // right one logs in (plaintext LOGIN is allowed because the relayed client is on loopback) and finds the mail.
        using var imap = new MailKit.Net.Imap.ImapClient { LocalEndPoint = new IPEndPoint(IPAddress.Parse(Client), 0) };
        await imap.ConnectAsync("127.0.0.1", haproxy.Ports["imap_v2"], MailKit.Security.SecureSocketOptions.None);
        await Assert.ThrowsAsync<MailKit.Security.AuthenticationException>(() => imap.AuthenticateAsync("alice@example.org", "wrong"));
        await host.WaitForOutputAsync($"IMAP login failed for alice@example.org from {Client}", TimeSpan.FromSeconds(10));
        await imap.AuthenticateAsync("alice@example.org", "secret");
        await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        Assert.Equal(2, (await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.SubjectContains(subject))).Count);
        await imap.DisconnectAsync(true);
    }

    [Fact]
    public async Task Header_sent_straight_from_outside_proxy_networks_is_refused_and_a_plain_listener_answers_500()
    {
        var plain = FreePort.Tcp();
        // Smtp:Listeners:1 without the option, on a port of our choosing (a later --key wins).
        await using var host = await StartAsync($"--Smtp:Listeners:1:Endpoint=127.0.0.1:{plain}");

        // From 127.0.0.9 straight to the PROXY listener: a forged header from outside Smtp:ProxyNetworks; closed.
        using (var forged = new TcpClient(new IPEndPoint(IPAddress.Parse(Client), 0)))
        {
            await forged.ConnectAsync(IPAddress.Loopback, host.SmtpPort);
            var stream = forged.GetStream();
            await stream.WriteAsync("PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n"u8.ToArray());
            var buffer = new byte[512];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            int n;
            try
            {
                n = await stream.ReadAsync(buffer, timeout.Token);
            }
            catch (IOException)
            {
                n = 0; // reset: closed too
            }
            Assert.True(n == 0, "expected the connection closed, got: " + Encoding.ASCII.GetString(buffer, 0, n));
        }
        await host.WaitForOutputAsync($"closed: {Client} is not a trusted proxy (Smtp:Listeners:0:ProxyProtocol, Smtp:ProxyNetworks)", TimeSpan.FromSeconds(10));

        // A listener without the option: the PROXY line is an unknown command, and the client stays itself.
        var script = $$"""
            import smtplib
            s = smtplib.SMTP("127.0.0.1", {{plain}}, source_address=("{{Client}}", 0), timeout=30)
            print(*s.docmd("PROXY", "TCP4 192.0.2.7 127.0.0.1 40000 25"))
            print(s.ehlo("client.example.net")[1].decode().splitlines()[0])
            s.quit()
            """;
        var run = await ExternalProcess.RunAsync("python3", ["-c", script]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        var lines = run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("500 b'5.5.2", lines[0], StringComparison.Ordinal);
        Assert.EndsWith($"[{Client}]", lines[1], StringComparison.Ordinal);
    }
}
