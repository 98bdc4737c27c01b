using System.Text;
using Mail.Core.Model;
using Mail.Storage.Embedded;
using Mail.Testing;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>The embedded host as a real process: swaks in, the admin CLI out, signals, bad settings.</summary>
[Collection("host")]
public sealed class HostEndToEndTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private async Task AddAliceAsync()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
    }

    [Fact]
    public async Task Message_sent_with_swaks_is_listed_in_the_mailbox_with_return_path_and_delivered_to()
    {
        Assert.True(ExternalProcess.IsOnPath("swaks"), "swaks is required (Debian package swaks)");
        await AddAliceAsync();
        await using var host = await HostProcess.StartAsync(_data.Path);
        var subject = "hello " + Guid.NewGuid().ToString("N")[..8];
        var swaks = await ExternalProcess.RunAsync("swaks",
            ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "Alice@Example.org", "--from", "bob@example.net", "--header", $"Subject: {subject}"]);
        Assert.True(swaks.ExitCode == 0, swaks.StdOut + swaks.StdErr);
        var queued = swaks.StdOut.Split('\n').Single(l => l.Contains("250 2.0.0 Ok: queued as", StringComparison.Ordinal));
        var queueId = queued[(queued.LastIndexOf(' ') + 1)..].Trim();

        var list = await HostProcess.PollAsync(async () => (await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "alice@example.org")).StdOut,
            o => o.Contains(subject, StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the message was not listed");
        Assert.Contains("1 message(s)", list, StringComparison.Ordinal);
        Assert.Contains("bob@example.net", list, StringComparison.Ordinal);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));

        // The delivered copy, read straight from the data directory.
        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        var record = Assert.Single(await mailboxes.ListMessagesAsync("alice@example.org", "INBOX"));
        var raw = await DeliveredCopies.ReadTextAsync(_data.Path, record.MessageRef);
        Assert.StartsWith("Return-Path: <bob@example.net>\r\nDelivered-To: alice@example.org\r\nAuthentication-Results: localhost;", raw, StringComparison.Ordinal);
        // The inbound checks' verdicts sit between the delivery headers and the edge's Received: header.
        var headerNames = raw[..raw.IndexOf("\r\n\r\n", StringComparison.Ordinal)].Split("\r\n")
            .Where(l => l.Length > 0 && !char.IsWhiteSpace(l[0])).Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]).Take(5).ToArray();
        Assert.Equal(["Return-Path", "Delivered-To", "Authentication-Results", "Received-SPF", "Received"], headerNames);
        Assert.Contains(queueId, raw, StringComparison.Ordinal);
        Assert.Equal(raw.Length, record.Size);
    }

    [Fact]
    public async Task Delivered_message_is_readable_over_imap_from_the_same_process()
    {
        await AddAliceAsync();
        await using var host = await HostProcess.StartAsync(_data.Path);
        using (var smtp = new MailKit.Net.Smtp.SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", host.SmtpPort, MailKit.Security.SecureSocketOptions.None);
            var message = new MimeKit.MimeMessage();
            message.From.Add(MimeKit.MailboxAddress.Parse("bob@example.net"));
            message.To.Add(MimeKit.MailboxAddress.Parse("alice@example.org"));
            message.Subject = "over imap";
            message.Body = new MimeKit.TextPart("plain") { Text = "read me" };
            await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }
        using var imap = new MailKit.Net.Imap.ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var inbox = await imap.GetFolderAsync("INBOX");
            await inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
            if (inbox.Count == 1)
            {
                var got = await inbox.GetMessageAsync(0);
                Assert.Equal("over imap", got.Subject);
                Assert.Equal("<bob@example.net>", got.Headers["Return-Path"]);
                Assert.Equal("read me", got.TextBody?.Trim());
                break;
            }
            await inbox.CloseAsync();
            Assert.True(DateTime.UtcNow < deadline, "message never appeared over IMAP");
            await Task.Delay(200);
        }
        await imap.DisconnectAsync(true);
    }

    [Fact]
    public async Task Sigterm_stops_cleanly()
    {
        await using var host = await HostProcess.StartAsync(_data.Path);
        Assert.Equal(0, await host.TerminateAsync());
        Assert.Contains("Stopped", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_on_an_empty_data_directory_explains_how_to_add_a_domain()
    {
        await using var host = await HostProcess.StartAsync(_data.Path);
        await host.WaitForOutputAsync("mail domain add", TimeSpan.FromSeconds(10));
        Assert.True(File.Exists(Path.Combine(_data.Path, "tls", "selfsigned.pfx")));
    }

    [Fact]
    public async Task Subaddresses_postmaster_and_abuse_reach_a_user_and_other_unknown_local_parts_are_refused()
    {
        await AddAliceAsync();
        await using var host = await HostProcess.StartAsync(_data.Path);
        // The console logger writes on its own thread, so the line may follow "ready".
        await host.WaitForOutputAsync("postmaster@example.org and abuse@example.org are delivered to alice@example.org", TimeSpan.FromSeconds(10));
        var subject = "roles " + Guid.NewGuid().ToString("N")[..8];
        // Python's smtplib: RCPT TO:<Postmaster> without a domain (RFC 5321 4.5.1) as well.
        var script = $$"""
            import smtplib, sys
            s = smtplib.SMTP("127.0.0.1", {{host.SmtpPort}})
            s.ehlo("client.example.net")
            s.mail("bob@example.net")
            out = []
            for r in ["alice+lists@example.org", "postmaster@example.org", "Abuse@Example.org", "<Postmaster>", "nobody+x@example.org", "bob@example.org"]:
                code, text = s.docmd("RCPT TO:" + (r if r.startswith("<") else "<" + r + ">"))
                out.append(f"{r} {code}")
            code, text = s.data(b"From: bob@example.net\r\nTo: alice+lists@example.org\r\nSubject: {{subject}}\r\n\r\nhi\r\n")
            out.append(f"DATA {code}")
            s.quit()
            print("\n".join(out))
            """;
        var run = await ExternalProcess.RunAsync("python3", ["-c", script]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        Assert.Equal(["alice+lists@example.org 250", "postmaster@example.org 250", "Abuse@Example.org 250", "<Postmaster> 250",
            "nobody+x@example.org 550", "bob@example.org 550", "DATA 250"], run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // One copy in alice's INBOX (every accepted recipient is alice), read over IMAP.
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        using var imap = new MailKit.Net.Imap.ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        var found = await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.SubjectContains(subject));
        Assert.Single(found);
    }

    [Theory]
    [InlineData("--Worker:Concurrency=abc", "Worker:Concurrency")]
    [InlineData("--Worker:Concurrency=0", "Worker:Concurrency")]
    [InlineData("--Smtp:Listeners:0:Endpoint=nowhere", "Smtp:Listeners:0:Endpoint")]
    [InlineData("--Tls:CertificatePath=/nonexistent/cert.pfx", "Tls:CertificatePath")]
    [InlineData("--Dns:NameServers:0=not-an-address", "Dns:NameServers:0")]
    [InlineData("--Dns:Timeout=soon", "Dns:Timeout")]
    [InlineData("--Mode=hybrid", "Mode")]
    [InlineData("--Mode=cloud", "Azure:BlobServiceUri")]
    [InlineData("--Defences:HeaderChecks=/nonexistent/header_checks", "Defences:HeaderChecks")]
    [InlineData("--Defences:Restrictions:smtpd_client_restrictions=reject_everything_please", "smtpd_client_restrictions")]
    [InlineData("--Authentication:DmarcRejectDisposition=Discard", "DmarcRejectDisposition")]
    [InlineData("--Sockets:InlineCompletions=sometimes", "Sockets:InlineCompletions")]
    [InlineData("--Smtp:RecipientDelimiter=@", "Smtp:RecipientDelimiter")]
    [InlineData("--Outbound:CommandTimeout=00:05:00", "Outbound:CommandTimeout is no longer read: set Outbound:Timeouts:Helo")]
    [InlineData("--Domains:PostmasterAddress=not-an-address", "Domains:PostmasterAddress")]
    [InlineData("--Smtp:Listeners:0:ProxyProtocol=true", "Smtp:Listeners:0:ProxyProtocol needs Smtp:ProxyNetworks")]
    [InlineData("--Smtp:ProxyNetworks:0=10.0.0.0/33", "Smtp:ProxyNetworks:0")]
    [InlineData("--Smtp:ProxyTimeout=00:00:00", "Smtp:ProxyTimeout")]
    [InlineData("--Smtp:InFlowDelay=00:00:11", "Smtp:InFlowDelay must be between 0 (off) and 10 seconds")]
    [InlineData("--Smtp:InFlowBacklog=-1", "Smtp:InFlowBacklog must not be negative")]
    [InlineData("--Quota:Default=lots", "Quota:Default")]
    public async Task Bad_setting_is_a_startup_error_naming_it(string setting, string name) => await BadSettingAsync(setting, name, "--Imap:Enabled=false");

    /// <summary>As above with the IMAP gateway on (its settings are checked only when it runs).</summary>
    [Theory]
    [InlineData("--Imap:Listeners:0:ProxyProtocol=true", "Imap:Listeners:0:ProxyProtocol needs Imap:ProxyNetworks")]
    [InlineData("--Imap:ProxyNetworks:0=not-a-network", "Imap:ProxyNetworks:0")]
    public async Task Bad_imap_setting_is_a_startup_error_naming_it(string setting, string name) => await BadSettingAsync(setting, name, "--Imap:Enabled=true");

    /// <summary>The POP3 gateway's settings, checked when it runs (Pop3:Enabled, default true).</summary>
    [Theory]
    [InlineData("--Pop3:Listeners:0:ProxyProtocol=true", "Pop3:Listeners:0:ProxyProtocol needs Pop3:ProxyNetworks")]
    [InlineData("--Pop3:ProxyNetworks:0=not-a-network", "Pop3:ProxyNetworks:0")]
    [InlineData("--Pop3:Listeners:1:Endpoint=nowhere", "Pop3:Listeners:1:Endpoint 'nowhere' is not an address:port")]
    [InlineData("--Pop3:IdleTimeout=00:00:00", "Pop3:IdleTimeout must be positive")]
    [InlineData("--Pop3:MaxLineLength=100", "Pop3:MaxLineLength must be at least 255")]
    public async Task Bad_pop3_setting_is_a_startup_error_naming_it(string setting, string name) => await BadSettingAsync(setting, name, "--Pop3:Enabled=true");

    /// <summary>The ManageSieve service's settings, checked when it runs (ManageSieve:Enabled, default true).</summary>
    [Theory]
    [InlineData("--ManageSieve:Listeners:0:Endpoint=nowhere", "ManageSieve:Listeners:0:Endpoint 'nowhere' is not an address:port")]
    [InlineData("--ManageSieve:MaxScriptSize=100000", "ManageSieve:MaxScriptSize must be between 1024 and 32768 octets")]
    [InlineData("--ManageSieve:IdleTimeout=00:00:00", "ManageSieve:IdleTimeout must be positive")]
    [InlineData("--ManageSieve:Listeners:0:ImplicitTls=true", "ManageSieve:Listeners:0:ImplicitTls is not available: RFC 5804 has no implicit-TLS port")]
    public async Task Bad_managesieve_setting_is_a_startup_error_naming_it(string setting, string name) => await BadSettingAsync(setting, name, "--ManageSieve:Enabled=true");

    private async Task BadSettingAsync(string setting, string name, string imapEnabled)
    {
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, imapEnabled, setting], timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(78, r.ExitCode); // EX_CONFIG
        Assert.StartsWith("mail: ", r.StdErr, StringComparison.Ordinal);
        Assert.Single(r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(name, r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settings_come_from_MAIL_environment_variables_too()
    {
        var r = await HostProcess.RunAsync(["serve", "--Imap:Enabled=false"], timeout: TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string>
            {
                ["MAIL_DataDirectory"] = _data.Path,
                ["MAIL_Smtp__Listeners__0__Endpoint"] = "from-the-environment",
            });
        Assert.Equal(78, r.ExitCode);
        Assert.Contains("Smtp:Listeners:0:Endpoint 'from-the-environment'", r.StdErr, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_data.Path, "mail.db")), "MAIL_DataDirectory was not used");
    }

    [Fact]
    public async Task Unusable_data_directory_is_a_startup_error_naming_the_setting()
    {
        var file = Path.Combine(_data.Path, "a-file");
        await File.WriteAllTextAsync(file, "x");
        var r = await HostProcess.RunAsync(["serve", "--data", Path.Combine(file, "sub")], timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(74, r.ExitCode); // EX_IOERR
        Assert.Contains("DataDirectory", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admin_commands_add_and_list_and_refuse_bad_input()
    {
        await AddAliceAsync();
        Assert.Equal("example.org", (await HostProcess.AdminOkAsync(_data.Path, "domain", "list")).StdOut.Trim());
        var viaStdin = await HostProcess.RunAsync(["user", "add", "Bob@EXAMPLE.org", "--password-stdin", "--data", _data.Path], stdin: "pw2\n");
        Assert.Equal(0, viaStdin.ExitCode);
        Assert.Equal(["alice@example.org", "bob@example.org"], (await HostProcess.AdminOkAsync(_data.Path, "user", "list")).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var empty = await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "bob@example.org", "--mailbox", "Junk");
        Assert.Contains("Junk: 0 message(s)", empty.StdOut, StringComparison.Ordinal);

        var foreign = await HostProcess.AdminAsync(_data.Path, "user", "add", "carol@elsewhere.example", "--password", "x");
        Assert.Equal(65, foreign.ExitCode); // EX_DATAERR
        Assert.Contains("not a local domain", foreign.StdErr, StringComparison.Ordinal);
        var noUser = await HostProcess.AdminAsync(_data.Path, "mailbox", "list", "nobody@example.org");
        Assert.Equal(65, noUser.ExitCode);
        Assert.Contains("no user", noUser.StdErr, StringComparison.Ordinal);
        var unknown = await HostProcess.AdminAsync(_data.Path, "frobnicate");
        Assert.Equal(64, unknown.ExitCode);
        Assert.Contains("unknown command", unknown.StdErr, StringComparison.Ordinal);
        Assert.Contains("Mail queue is empty", (await HostProcess.AdminOkAsync(_data.Path, "queue")).StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Same_envelope_queued_twice_is_delivered_once_a_poison_envelope_is_dead_lettered_and_one_without_its_message_dropped()
    {
        await AddAliceAsync();
        // Queue directly into the data directory while no server runs, as a crashed edge or a redelivery would leave it.
        var messages = new FileMessageStore(Path.Combine(_data.Path, "messages"));
        await using (var w = await messages.CreateAsync("raw-1"))
        {
            await w.WriteAsync(Encoding.ASCII.GetBytes("From: bob@example.net\r\nSubject: twice\r\nMessage-ID: <twice@test>\r\n\r\nbody\r\n"));
            await w.CommitAsync();
        }
        await using (var w = await messages.CreateAsync("raw-empty"))
        {
            await w.CommitAsync(); // no headers at all: cannot be parsed, a permanent failure
        }
        var envelope = new Envelope
        {
            QueueId = "REDELIVER1",
            MessageRef = "raw-1",
            ReceivedAt = DateTimeOffset.UtcNow,
            Client = new ClientInfo { Address = "127.0.0.1", Helo = "test" },
            MailFrom = "bob@example.net",
            Recipients = [new Recipient { Address = "alice@example.org" }],
        };
        var inbound = new SpoolQueue(Path.Combine(_data.Path, "queue"), "inbound");
        await inbound.SendAsync(envelope);
        await inbound.SendAsync(envelope);
        await inbound.SendAsync(envelope with { QueueId = "POISON1", MessageRef = "raw-empty" });
        // As a machine crash during the edge's group commit can leave it: never acknowledged, dropped at load.
        await inbound.SendAsync(envelope with { QueueId = "TORN1", MessageRef = "does-not-exist" });

        await using var host = await HostProcess.StartAsync(_data.Path);
        var queue = await HostProcess.PollAsync(async () => (await HostProcess.AdminOkAsync(_data.Path, "queue")).StdOut,
            o => o.Contains("-- 1 envelope(s)", StringComparison.Ordinal) && o.Contains(" dead ", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
            "the poison envelope was not dead-lettered");
        Assert.Contains("POISON1", queue, StringComparison.Ordinal);
        Assert.Contains("cannot be parsed", queue, StringComparison.Ordinal);
        Assert.DoesNotContain("TORN1", queue, StringComparison.Ordinal);
        await host.WaitForOutputAsync("1 queued envelope(s) dropped", TimeSpan.FromSeconds(10));
        var list = (await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "alice@example.org")).StdOut;
        Assert.Contains("1 message(s)", list, StringComparison.Ordinal);
        Assert.Single(list.Split('\n'), l => l.Contains("<twice@test>", StringComparison.Ordinal));
        log.WriteLine(host.Output);
    }
}
