using System.Globalization;
using System.Text;
using Mail.Storage.Embedded;
using Mail.Testing;
using Mail.Testing.Dns;
using MimeKit;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// The outbound SMTP client of the real `mail serve` against real and scripted servers on loopback, found by MX in a
/// loopback DNS server: a real Postfix that defers then accepts, per-stage timeouts (RFC 5321 4.5.3.2) named in the
/// deferral, over-long replies, a disconnect after the data, CHUNKING/BDAT and BODY=8BITMIME with the message arriving
/// byte for byte, the DSN parameters passed on, SIZE, success and delay notices read back from the sender's mailbox,
/// and connection reuse.
/// </summary>
[Collection("host")]
public sealed class OutboundClientHostTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly TempData _data = new();
    private TestDnsServer _dns = null!;

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
    }

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
        _data.Dispose();
    }

    private async Task<(HostProcess Host, int Submission)> StartAsync(int remotePort, params string[] extra)
    {
        var submission = FreePort.Tcp();
        var host = await HostProcess.StartAsync(_data.Path, [
            "--Smtp:Listeners:1:Name=submission", $"--Smtp:Listeners:1:Endpoint=127.0.0.1:{submission}", "--Smtp:Listeners:1:Role=Submission",
            "--Smtp:AllowPlaintextAuthOnLoopback=true", "--Smtp:HostName=mail.example.org",
            $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1",
            $"--Outbound:RemotePort={remotePort}", "--Outbound:MinimalBackoff=00:05:00", "--Outbound:PollInterval=00:00:00.050",
            .. extra]);
        return (host, submission);
    }

    /// <summary>Submits raw bytes with Python's smtplib (AUTH, then MAIL FROM and RCPT TO, for each of the comma-separated
    /// recipients, with the given parameters), so
    /// the message and the DSN parameters reach the server exactly as written here.</summary>
    private const string Submit = """
        import sys, smtplib
        port, rcpt, path, mail_options, rcpt_options = sys.argv[1:6]
        s = smtplib.SMTP("127.0.0.1", int(port))
        s.login("alice@example.org", "secret")
        s.sendmail("alice@example.org", rcpt.split(","), open(path, "rb").read(), mail_options.split(), rcpt_options.split())
        s.quit()
        """;

    private async Task SubmitRawAsync(int port, string rcpt, byte[] message, string mailOptions = "", string rcptOptions = "")
    {
        var dir = Path.Combine(_data.Path, "submit");
        Directory.CreateDirectory(dir);
        var tool = Path.Combine(dir, "submit.py");
        await File.WriteAllTextAsync(tool, Submit);
        var file = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".eml");
        await File.WriteAllBytesAsync(file, message);
        var r = await ExternalProcess.RunAsync("/usr/bin/python3", [tool, port.ToString(CultureInfo.InvariantCulture), rcpt, file, mailOptions, rcptOptions]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
    }

    private static byte[] Message(string subject, string body) => Encoding.UTF8.GetBytes(
        $"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@example.org>\r\n\r\n{body}");

    private string LineFor(HostProcess host, string status) =>
        host.Output.Split('\n').Last(l => l.Contains("status=" + status, StringComparison.Ordinal)).Trim();

    private async Task<List<MimeMessage>> NoticesAsync(int count)
    {
        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        await HostProcess.PollAsync(async () => (await mailboxes.ListMessagesAsync("alice@example.org", "INBOX")).Count.ToString(CultureInfo.InvariantCulture),
            n => int.Parse(n, CultureInfo.InvariantCulture) >= count, TimeSpan.FromSeconds(30), "no notice in alice's INBOX");
        var notices = new List<MimeMessage>();
        foreach (var record in await mailboxes.ListMessagesAsync("alice@example.org", "INBOX"))
            notices.Add(await DeliveredCopies.LoadAsync(_data.Path, record.MessageRef));
        return notices;
    }

    /// <summary>The one recipient group of an RFC 3464 report, read with MimeKit.</summary>
    private static HeaderList ReportGroup(MimeMessage notice)
    {
        var report = Assert.IsType<MultipartReport>(notice.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var status = Assert.Single(report.OfType<MessageDeliveryStatus>());
        return Assert.Single(status.StatusGroups.Skip(1), g => g.Count > 0);
    }

    [Fact]
    public async Task A_real_postfix_that_defers_the_recipient_gets_the_message_once_it_accepts()
    {
        Assert.True(File.Exists("/usr/sbin/postfix"), "postfix is required (Debian package postfix)");
        var dir = Path.Combine(_data.Path, "postfix");
        var port = FreePort.Tcp();
        var lib = Path.Combine(HostProcess.RepositoryRoot, "bench", "lib.sh");
        // bench/lib.sh's private instance: smtpd on 127.0.0.1:port, mail for example.net discarded once accepted, and
        // every recipient deferred (450) until the restriction is changed below.
        var start = await ExternalProcess.RunAsync("bash", ["-c", $"""
            set -e
            source '{lib}'
            postfix_configure '{dir}' {port} mx.example.net <<'CONF'
            mydestination = example.net
            local_recipient_maps =
            local_transport = discard:
            default_transport = discard:
            smtpd_recipient_restrictions = defer
            CONF
            postfix_start '{dir}' {port}
            """]);
        try
        {
            Assert.True(start.ExitCode == 0, start.StdOut + start.StdErr);
            // No connection kept across the reload: the next attempt must meet the new smtpd settings.
            var (host, submission) = await StartAsync(port, "--Outbound:ConnectionReuseTime=00:00:00.001");
            await using var _ = host;
            var message = new MimeMessage { MessageId = Guid.NewGuid().ToString("N") + "@example.org", Subject = "postfix defers then accepts" };
            message.From.Add(MailboxAddress.Parse("alice@example.org"));
            message.To.Add(MailboxAddress.Parse("bob@example.net"));
            message.Body = new TextPart("plain") { Text = "to a real Postfix\r\n" };
            await SubmitMimeAsync(submission, message);

            await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
            Assert.Matches(@"to=<bob@example\.net>, relay=mx\.example\.net\[127\.0\.0\.1\]:\d+, .*dsn=4\.\d\.\d, status=deferred \(450 4\.", LineFor(host, "deferred"));

            Assert.Equal(0, (await ExternalProcess.RunAsync("postconf", ["-c", Path.Combine(dir, "conf"), "-e", "smtpd_recipient_restrictions = permit"])).ExitCode);
            Assert.Equal(0, (await ExternalProcess.RunAsync("postfix", ["-c", Path.Combine(dir, "conf"), "reload"])).ExitCode);
            await HostProcess.AdminOkAsync(_data.Path, "queue", "retry", "ALL");

            await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
            var sent = LineFor(host, "sent");
            log.WriteLine(sent);
            var queuedAs = System.Text.RegularExpressions.Regex.Match(sent, @"queued as ([0-9A-Za-z]+)");
            Assert.True(queuedAs.Success, sent);
            // Postfix's own log: its queue file for our message, by Message-ID.
            var maillog = await HostProcess.PollAsync(() => Task.FromResult(File.Exists(Path.Combine(dir, "maillog")) ? File.ReadAllText(Path.Combine(dir, "maillog")) : ""),
                l => l.Contains($"{queuedAs.Groups[1].Value}: message-id=<{message.MessageId}>", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
                "Postfix did not log the message it accepted");
            Assert.Contains("450 4.", maillog, StringComparison.Ordinal);
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        }
        finally
        {
            await ExternalProcess.RunAsync("postfix", ["-c", Path.Combine(dir, "conf"), "stop"]);
        }
    }

    private static async Task SubmitMimeAsync(int port, MimeMessage message)
    {
        using var smtp = new MailKit.Net.Smtp.SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
        await smtp.AuthenticateAsync("alice@example.org", "secret");
        await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_server_that_never_greets_is_deferred_with_the_stage_named()
    {
        await using var peer = new ScriptedSmtpPeer { Greeting = null };
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:Timeouts:Helo=00:00:01");
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("silent server", "never greeted\r\n"));
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = LineFor(host, "deferred");
        log.WriteLine(line);
        Assert.Contains($"dsn=4.4.2, status=deferred (conversation with mx.example.net[127.0.0.1:{peer.Port}] timed out while receiving the initial server greeting)", line,
            StringComparison.Ordinal);
        Assert.Empty(peer.Commands);
    }

    [Theory]
    [InlineData("Rcpt", "-00:00:01")]
    [InlineData("DataDone", "00:00:00")]
    public async Task A_timeout_that_cannot_work_stops_mail_serve_with_one_line_naming_it(string setting, string value)
    {
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, "--Smtp:Listeners:0:Endpoint=127.0.0.1:0", "--Imap:Listeners:0:Endpoint=127.0.0.1:0",
            $"--Outbound:Timeouts:{setting}={value}"]);
        Assert.True(r.ExitCode == 78, $"exit code {r.ExitCode}:\n{r.StdErr}{r.StdOut}");
        Assert.Equal($"mail: configuration error: Outbound:Timeouts:{setting} must be positive and at most 24 days (got {value})", r.StdErr.Trim());
    }

    [Theory]
    [InlineData("CheckInterval", "00:00:00")]
    [InlineData("PostTimeout", "-00:00:01")]
    public async Task A_tls_reporting_setting_that_cannot_work_stops_mail_serve_with_one_line_naming_it(string setting, string value)
    {
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, "--Smtp:Listeners:0:Endpoint=127.0.0.1:0", "--Imap:Listeners:0:Endpoint=127.0.0.1:0",
            $"--Outbound:TlsReporting:{setting}={value}"]);
        Assert.True(r.ExitCode == 78, $"exit code {r.ExitCode}:\n{r.StdErr}{r.StdOut}");
        Assert.Equal($"mail: configuration error: Outbound:TlsReporting:{setting} must be positive (got {value})", r.StdErr.Trim());
    }

    [Fact]
    public async Task A_server_silent_after_rcpt_to_is_deferred_naming_rcpt_to()
    {
        await using var peer = new ScriptedSmtpPeer { SilentOn = "RCPT" };
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:Timeouts:Rcpt=00:00:01");
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("silent rcpt", "no answer to RCPT\r\n"));
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        Assert.Contains("dsn=4.4.2, status=deferred (conversation with mx.example.net", LineFor(host, "deferred"), StringComparison.Ordinal);
        Assert.Contains("timed out while sending RCPT TO)", LineFor(host, "deferred"), StringComparison.Ordinal);
        Assert.Empty(peer.Received);
    }

    [Fact]
    public async Task Over_long_replies_are_cut_to_2048_characters_and_an_endless_one_drops_the_connection()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["bob@example.net"] = "450 4.2.0 " + new string('x', 5000);
        await using var endless = new ScriptedSmtpPeer();
        endless.RcptReplies["eve@huge.example"] = "250 " + new string('y', 200_000);
        // huge.example goes to the second peer's port through the transport map (Outbound:RemotePort is one for all MX).
        var (host, submission) = await StartAsync(peer.Port, $"--Outbound:Transports:huge.example=[127.0.0.1]:{endless.Port}");
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("long reply", "a long 450\r\n"));
        await SubmitRawAsync(submission, "eve@huge.example", Message("endless reply", "a reply without end\r\n"));
        await HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Split('\n').Count(l => l.Contains("status=deferred", StringComparison.Ordinal)) >= 2,
            TimeSpan.FromSeconds(30), "both were not deferred");

        var lines = host.Output.Split('\n');
        var cut = lines.Single(l => l.Contains("to=<bob@example.net>", StringComparison.Ordinal)).Trim();
        Assert.Contains("dsn=4.2.0, status=deferred (450 4.2.0 " + new string('x', 2048) + "...)", cut, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('x', 2049), cut, StringComparison.Ordinal);
        var dropped = lines.Single(l => l.Contains("to=<eve@huge.example>", StringComparison.Ordinal)).Trim();
        log.WriteLine(dropped);
        Assert.Contains("dsn=4.4.2, status=deferred (conversation with 127.0.0.1[127.0.0.1:", dropped, StringComparison.Ordinal);
        Assert.Contains("failed while sending RCPT TO: the server's reply is longer than 65536 octets)", dropped, StringComparison.Ordinal);
        Assert.Empty(endless.Received);
    }

    [Fact]
    public async Task A_disconnect_after_the_data_defers_and_says_the_message_may_arrive_twice()
    {
        await using var peer = new ScriptedSmtpPeer { DisconnectAfterData = true };
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("disconnect", "cut after the dot\r\n"));
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        Assert.Contains($"dsn=4.4.2, status=deferred (lost connection with mx.example.net[127.0.0.1:{peer.Port}] while sending end of data -- message may be sent more than once)",
            LineFor(host, "deferred"), StringComparison.Ordinal);
        Assert.DoesNotContain("status=bounced", host.Output, StringComparison.Ordinal);
    }

    /// <summary>8-bit octets (UTF-8), a line starting with a dot, trailing spaces, a tab, no final line break: what
    /// any re-encoding or a wrong dot-stuffing would change.</summary>
    private static byte[] EightBitMessage(string subject) => Encoding.UTF8.GetBytes(
        $"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Zürich  \r\n.leading dot\r\n\tindented — ünïcödé\r\nlast line\r\n");

    [Fact]
    public async Task With_chunking_the_message_goes_by_bdat_with_body_8bitmime_and_arrives_byte_for_byte()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.Extensions.Enqueue("CHUNKING");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var original = EightBitMessage("bdat " + Guid.NewGuid().ToString("N")[..8]);
        await SubmitRawAsync(submission, "bob@example.net", original, "BODY=8BITMIME");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var commands = peer.Commands.ToList();
        log.WriteLine(string.Join("\n", commands));
        Assert.Contains(commands, c => c.StartsWith("MAIL FROM:<alice@example.org>", StringComparison.Ordinal) && c.Contains(" BODY=8BITMIME", StringComparison.Ordinal));
        Assert.Contains(commands, c => c.StartsWith("BDAT ", StringComparison.Ordinal) && c.EndsWith(" LAST", StringComparison.Ordinal));
        Assert.DoesNotContain("DATA", commands);
        var delivered = Assert.Single(peer.Received).Data;
        // Our Received: in front, then the submitted octets exactly.
        Assert.StartsWith("Received: ", delivered, StringComparison.Ordinal);
        Assert.EndsWith(Encoding.Latin1.GetString(original), delivered, StringComparison.Ordinal);
    }

    /// <summary>Messages larger than the 64 KiB blocks in which the outbound stage reads the stored original: the only
    /// 8-bit octets are in the last line, past the first blocks of the 8-bit scan, and every other line starts with a
    /// dot, which DATA must stuff.</summary>
    [Theory]
    [InlineData(100_000)]
    [InlineData(400_000)]
    public async Task A_message_of_several_read_blocks_arrives_byte_for_byte_with_8bitmime_found_in_its_last_line(int bodySize)
    {
        await using var peer = new ScriptedSmtpPeer();
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var line = "." + new string('x', 68) + "\r\n";
        var original = Encoding.UTF8.GetBytes(
            $"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: {bodySize} octets\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Transfer-Encoding: 8bit\r\n\r\n" + string.Concat(Enumerable.Repeat(line, bodySize / line.Length)) + "Grüße\r\n");
        await SubmitRawAsync(submission, "bob@example.net", original, "BODY=8BITMIME");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(60));
        var mail = Assert.Single(peer.Commands, c => c.StartsWith("MAIL FROM:", StringComparison.Ordinal));
        Assert.Contains(" BODY=8BITMIME", mail, StringComparison.Ordinal);
        Assert.Contains("DATA", peer.Commands);
        Assert.EndsWith(Encoding.Latin1.GetString(original), Assert.Single(peer.Received).Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_8bit_message_to_a_server_without_8bitmime_is_sent_as_it_is_with_no_body_parameter()
    {
        await using var peer = new ScriptedSmtpPeer { Offer8BitMime = false };
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var original = EightBitMessage("no 8bitmime");
        await SubmitRawAsync(submission, "bob@example.net", original, "BODY=8BITMIME");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        var mail = Assert.Single(peer.Commands, c => c.StartsWith("MAIL FROM:", StringComparison.Ordinal));
        Assert.DoesNotContain("BODY=", mail, StringComparison.Ordinal);
        Assert.Contains("DATA", peer.Commands);
        Assert.EndsWith(Encoding.Latin1.GetString(original), Assert.Single(peer.Received).Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dsn_parameters_are_passed_on_and_notify_success_brings_a_relayed_notice()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.Extensions.Enqueue("DSN");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("dsn parameters", "with NOTIFY=SUCCESS\r\n"), "RET=HDRS ENVID=env+2Bid-42",
            "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.net");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var commands = peer.Commands.ToList();
        log.WriteLine(string.Join("\n", commands));
        var mail = Assert.Single(commands, c => c.StartsWith("MAIL FROM:", StringComparison.Ordinal));
        Assert.Contains(" RET=HDRS", mail, StringComparison.Ordinal);
        Assert.Contains(" ENVID=env+2Bid-42", mail, StringComparison.Ordinal);
        Assert.Equal("RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.net", Assert.Single(commands, c => c.StartsWith("RCPT TO:", StringComparison.Ordinal)));

        var notice = Assert.Single(await NoticesAsync(1));
        var group = ReportGroup(notice);
        Assert.Equal("relayed", group["Action"]);
        Assert.Equal("rfc822; bob@example.net", group["Final-Recipient"]);
        Assert.StartsWith("2.", group["Status"], StringComparison.Ordinal);
        var envelope = Assert.Single(Assert.IsType<MultipartReport>(notice.Body).OfType<MessageDeliveryStatus>()).StatusGroups[0];
        Assert.Equal("env+id-42", envelope["Original-Envelope-Id"]);
    }

    [Fact]
    public async Task A_transaction_without_orcpt_is_pipelined_up_to_data_and_a_server_without_dsn_gets_no_dsn_parameter()
    {
        // The peer holds its MAIL FROM and RCPT TO replies until DATA (RFC 2920 3.2): only a client that writes MAIL FROM,
        // RCPT TO and DATA in one group gets them; one that waits for each reply times out.
        await using var peer = new ScriptedSmtpPeer { BufferRepliesUntilData = true };
        peer.RcptReplies["dave@example.net"] = "450 4.2.1 <dave@example.net>: try later";
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:Timeouts:Mail=00:00:20", "--Outbound:Timeouts:Rcpt=00:00:20");
        await using var _ = host;
        var original = Message("no dsn here", "a line\r\n.a line that starts with a dot\r\n");
        await SubmitRawAsync(submission, "bob@example.net,dave@example.net", original, "RET=HDRS ENVID=env42", "NOTIFY=SUCCESS,FAILURE");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var commands = peer.Commands.ToList();
        log.WriteLine(string.Join("\n", commands));
        Assert.Equal(["MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.net>", "RCPT TO:<dave@example.net>", "DATA"],
            commands.SkipWhile(c => !c.StartsWith("MAIL", StringComparison.Ordinal)).Take(4));
        var (recipients, data) = Assert.Single(peer.Received);
        Assert.Equal(["bob@example.net"], recipients);
        Assert.EndsWith(Encoding.Latin1.GetString(original), data, StringComparison.Ordinal);
        Assert.Contains("450 4.2.1 <dave@example.net>: try later", LineFor(host, "deferred"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Notify_without_orcpt_to_a_dsn_server_adds_an_orcpt_naming_the_recipient()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.Extensions.Enqueue("DSN");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("implied orcpt", "notify only\r\n"), "", "NOTIFY=FAILURE");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Equal("RCPT TO:<bob@example.net> NOTIFY=FAILURE ORCPT=rfc822;bob@example.net",
            Assert.Single(peer.Commands, c => c.StartsWith("RCPT TO:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task An_orcpt_other_than_the_recipient_is_passed_on_as_given_and_the_reply_still_counts_for_the_recipient()
    {
        // Without PIPELINING: one command, one reply.
        await using var peer = new ScriptedSmtpPeer { OfferPipelining = false };
        peer.Extensions.Enqueue("DSN");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        // The sender wrote to a list; we deliver to one of its members: ORCPT names the list (xtext: + is +2B).
        await SubmitRawAsync(submission, "bob@example.net", Message("orcpt", "for the list\r\n"), "",
            "NOTIFY=FAILURE ORCPT=rfc822;list+2Bowner@example.org");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var commands = peer.Commands.ToList();
        log.WriteLine(string.Join("\n", commands));
        Assert.Equal("RCPT TO:<bob@example.net> NOTIFY=FAILURE ORCPT=rfc822;list+2Bowner@example.org", Assert.Single(commands, c => c.StartsWith("RCPT TO:", StringComparison.Ordinal)));
        Assert.Contains("to=<bob@example.net>", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_orcpt_without_notify_goes_out_as_received_with_plus_and_equals_in_xtext_and_an_8bit_body_intact()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.Extensions.Enqueue("DSN");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var original = Message("orcpt without notify", "d\u00e9j\u00e0 vu\r\n.a line that starts with a dot\r\n");
        await SubmitRawAsync(submission, "bob@example.net", original, "BODY=8BITMIME RET=FULL ENVID=q+3D1", "ORCPT=rfc822;list+2Bowner+3Dsub@example.org");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var commands = peer.Commands.ToList();
        log.WriteLine(string.Join("\n", commands));
        Assert.Equal("MAIL FROM:<alice@example.org> BODY=8BITMIME RET=FULL ENVID=q+3D1", Assert.Single(commands, c => c.StartsWith("MAIL FROM:", StringComparison.Ordinal)));
        Assert.Equal("RCPT TO:<bob@example.net> ORCPT=rfc822;list+2Bowner+3Dsub@example.org", Assert.Single(commands, c => c.StartsWith("RCPT TO:", StringComparison.Ordinal)));
        Assert.Contains("DATA", commands);
        // The peer undoes the dot-stuffing; the octets are the submitted ones (after our Received: field).
        Assert.EndsWith(Encoding.Latin1.GetString(original), Assert.Single(peer.Received).Data, StringComparison.Ordinal);
        Assert.Matches(@"to=<bob@example\.net>, relay=mx\.example\.net\[127\.0\.0\.1\]:\d+, .*dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok: queued as SCRIPTED\)", LineFor(host, "sent"));
        await ASecondOrcptTransactionGoesOverTheKeptConnectionAsync(host, submission, peer);
    }

    [Fact]
    public async Task An_orcpt_transaction_with_a_body_that_is_not_utf8_is_pipelined_and_sent_byte_for_byte_with_each_recipients_reply()
    {
        // The peer holds its MAIL FROM and RCPT TO replies until DATA (RFC 2920 3.2): a client that waits for each reply
        // before writing the next command gets none and times out.
        await using var peer = new ScriptedSmtpPeer { BufferRepliesUntilData = true };
        peer.Extensions.Enqueue("DSN");
        peer.RcptReplies["dave@example.net"] = "550 5.1.1 <dave@example.net>: Recipient address rejected";
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:Timeouts:Mail=00:00:20", "--Outbound:Timeouts:Rcpt=00:00:20");
        await using var _ = host;
        // ISO-8859-1 octets (not UTF-8), a dot line and no final line break.
        var original = Encoding.Latin1.GetBytes(
            $"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: latin-1\r\nMessage-ID: <{Guid.NewGuid():N}@example.org>\r\nMIME-Version: 1.0\r\n"
            + "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\u00fc\u00dfe aus Z\u00fcrich\r\n.leading dot\r\n\u00e9t\u00e9");
        await SubmitRawAsync(submission, "bob@example.net,dave@example.net", original, "BODY=8BITMIME", "NOTIFY=FAILURE ORCPT=rfc822;list+2Bowner@example.org");
        await host.WaitForOutputAsync("status=bounced", TimeSpan.FromSeconds(30));
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var commands = peer.Commands.ToList();
        log.WriteLine(string.Join("\n", commands));
        Assert.Equal(["MAIL FROM:<alice@example.org> BODY=8BITMIME", "RCPT TO:<bob@example.net> NOTIFY=FAILURE ORCPT=rfc822;list+2Bowner@example.org",
                "RCPT TO:<dave@example.net> NOTIFY=FAILURE ORCPT=rfc822;list+2Bowner@example.org", "DATA"],
            commands.SkipWhile(c => !c.StartsWith("MAIL", StringComparison.Ordinal)).Take(4));
        var (recipients, data) = Assert.Single(peer.Received);
        Assert.Equal(["bob@example.net"], recipients);
        // The octets as submitted after our Received: field; DATA adds the final line break.
        Assert.EndsWith(Encoding.Latin1.GetString(original) + "\r\n", data, StringComparison.Ordinal);
        Assert.Contains("550 5.1.1 <dave@example.net>: Recipient address rejected", LineFor(host, "bounced"), StringComparison.Ordinal);
        Assert.Contains("to=<dave@example.net>", LineFor(host, "bounced"), StringComparison.Ordinal);
        Assert.Contains("to=<bob@example.net>", LineFor(host, "sent"), StringComparison.Ordinal);
    }

    /// <summary>A transaction written with the command API leaves nothing behind on the kept connection (no stray empty
    /// line after the data, whose reply the next command would read as its own).</summary>
    private async Task ASecondOrcptTransactionGoesOverTheKeptConnectionAsync(HostProcess host, int submission, ScriptedSmtpPeer peer)
    {
        await SubmitRawAsync(submission, "carol@example.net", Message("second", "the second one\r\n"), "", "ORCPT=rfc822;carol@example.org");
        await host.WaitForOutputAsync("to=<carol@example.net>", TimeSpan.FromSeconds(30));
        Assert.Contains("status=sent", host.Output.Split('\n').Last(l => l.Contains("to=<carol@example.net>", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal(2, peer.Received.Count);
        var commands = peer.Commands.ToList();
        Assert.DoesNotContain("", commands);
        Assert.Contains("RCPT TO:<carol@example.net> ORCPT=rfc822;carol@example.org", commands);
    }

    [Fact]
    public async Task A_utf8_orcpt_goes_out_in_rfc6533_form_over_bdat()
    {
        // Replies held until the BDAT chunk: MAIL FROM, RCPT TO and BDAT with its chunk go in one pipelined group.
        await using var peer = new ScriptedSmtpPeer { BufferRepliesUntilData = true };
        peer.Extensions.Enqueue("DSN");
        peer.Extensions.Enqueue("CHUNKING");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var original = Message("utf-8 orcpt", "for j\u00e9r\u00f4me\r\n");
        // RFC 6533: without SMTPUTF8 the utf-8 address goes as utf-8-addr-xtext (\x{HEX} for non-ASCII and for + = \).
        await SubmitRawAsync(submission, "bob@example.net", original, "BODY=8BITMIME", "NOTIFY=FAILURE,DELAY ORCPT=utf-8;j\\x{E9}r\\x{F4}me\\x{2B}1@example.org");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var commands = peer.Commands.ToList();
        log.WriteLine(string.Join("\n", commands));
        Assert.Equal("RCPT TO:<bob@example.net> NOTIFY=FAILURE,DELAY ORCPT=utf-8;j\\x{E9}r\\x{F4}me\\x{2B}1@example.org",
            Assert.Single(commands, c => c.StartsWith("RCPT TO:", StringComparison.Ordinal)));
        Assert.Single(commands, c => c.StartsWith("BDAT ", StringComparison.Ordinal) && c.EndsWith(" LAST", StringComparison.Ordinal));
        Assert.DoesNotContain("DATA", commands);
        Assert.EndsWith(Encoding.Latin1.GetString(original), Assert.Single(peer.Received).Data, StringComparison.Ordinal);
        await ASecondOrcptTransactionGoesOverTheKeptConnectionAsync(host, submission, peer);
    }

    [Fact]
    public async Task A_bounce_names_a_utf8_orcpt_in_utf8_addr_xtext_and_an_rfc822_one_decoded()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.Extensions.Enqueue("DSN");
        peer.RcptReplies["bob@example.net"] = "550 5.1.1 no such user";
        peer.RcptReplies["dave@example.net"] = "550 5.1.1 no such user";
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("utf-8 orcpt bounced", "to a utf-8 list\r\n"), "",
            "NOTIFY=FAILURE ORCPT=utf-8;j\\x{E9}r\\x{F4}me\\x{2B}1@example.org");
        await SubmitRawAsync(submission, "dave@example.net", Message("rfc822 orcpt bounced", "to a list\r\n"), "",
            "NOTIFY=FAILURE ORCPT=rfc822;list+2Bowner@example.org");

        var notices = await NoticesAsync(2);
        var groups = notices.Select(ReportGroup).ToDictionary(g => g["Final-Recipient"] ?? "");
        // RFC 6533 3: message/delivery-status is ASCII, so a utf-8 address is in utf-8-addr-xtext there, not decoded.
        Assert.Equal("utf-8; j\\x{E9}r\\x{F4}me\\x{2B}1@example.org", groups["rfc822; bob@example.net"]["Original-Recipient"]);
        // RFC 3464 2.3.1: the rfc822 ORCPT with its xtext undone.
        Assert.Equal("rfc822; list+owner@example.org", groups["rfc822; dave@example.net"]["Original-Recipient"]);
        foreach (var notice in notices)
        {
            var status = Assert.Single(Assert.IsType<MultipartReport>(notice.Body).OfType<MessageDeliveryStatus>());
            using var raw = new MemoryStream();
            await status.Content!.DecodeToAsync(raw);
            Assert.True(Ascii.IsValid(raw.ToArray()), Encoding.UTF8.GetString(raw.ToArray()));
        }
    }

    [Fact]
    public async Task Smtp_sink_receives_the_orcpt_without_notify_exactly_as_submitted()
    {
        var sinkPort = FreePort.Tcp();
        var dumps = Path.Combine(_data.Path, "sink");
        Directory.CreateDirectory(dumps);
        // smtp-sink drops privileges to postfix; it must be able to write its dumps.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dumps, (UnixFileMode)0x1FF);
        using var sink = OutboundHostTests.StartSmtpSink(sinkPort, dumps);
        try
        {
            var (host, submission) = await StartAsync(sinkPort);
            await using var _ = host;
            await SubmitRawAsync(submission, "bob@example.net", Message("orcpt to smtp-sink", "via smtp-sink\r\n"), "RET=HDRS",
                "ORCPT=rfc822;list+2Bowner+3Dsub@example.org");
            var dump = await HostProcess.PollAsync(() => Task.FromResult(string.Join("\n", Directory.EnumerateFiles(dumps, "*", SearchOption.AllDirectories).Select(File.ReadAllText))),
                d => d.Contains("via smtp-sink", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "smtp-sink never received the message");
            log.WriteLine(dump);
            // smtp-sink writes the MAIL FROM and RCPT TO arguments it received into its dump.
            Assert.Contains("X-Mail-Args: <alice@example.org> RET=HDRS\n", dump, StringComparison.Ordinal);
            Assert.Contains("X-Rcpt-Args: <bob@example.net> ORCPT=rfc822;list+2Bowner+3Dsub@example.org\n", dump, StringComparison.Ordinal);
            await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(10));
        }
        finally
        {
            sink.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task A_message_larger_than_the_servers_size_is_bounced_with_5_3_4_without_being_sent()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.Extensions.Enqueue("SIZE 1000");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("too big", new string('z', 70) + "\r\n" + string.Concat(Enumerable.Repeat(new string('z', 70) + "\r\n", 30))));
        await host.WaitForOutputAsync("status=bounced", TimeSpan.FromSeconds(30));
        Assert.Contains("dsn=5.3.4, status=bounced (552 5.3.4 Message size exceeds fixed limit", LineFor(host, "bounced"), StringComparison.Ordinal);
        Assert.DoesNotContain(peer.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
        var group = ReportGroup(Assert.Single(await NoticesAsync(1)));
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("5.3.4", group["Status"]);
    }

    [Fact]
    public async Task With_delay_warning_time_set_a_deferred_recipient_brings_one_delayed_notice()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["bob@example.net"] = "450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted";
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:DelayWarningTime=00:00:00.001");
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("delayed", "greylisted\r\n"));
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));

        var notice = Assert.Single(await NoticesAsync(1));
        var group = ReportGroup(notice);
        Assert.Equal("delayed", group["Action"]);
        Assert.Equal("4.2.0", group["Status"]);
        Assert.Equal("rfc822; bob@example.net", group["Final-Recipient"]);
        Assert.StartsWith("smtp; 450 4.2.0", group["Diagnostic-Code"], StringComparison.Ordinal);
        Assert.Equal("<>", notice.Headers["Return-Path"]);
    }

    [Fact]
    public async Task Two_messages_to_the_same_mx_share_one_connection()
    {
        await using var peer = new ScriptedSmtpPeer();
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:ConnectionReuseTime=00:01:00");
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("first", "one\r\n"));
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        await SubmitRawAsync(submission, "bob@example.net", Message("second", "two\r\n"));
        await HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Split('\n').Count(l => l.Contains("status=sent", StringComparison.Ordinal)) == 2,
            TimeSpan.FromSeconds(30), "the second was not sent");
        Assert.Equal(2, peer.Received.Count);
        Assert.Equal(1, peer.Connections);
        Assert.Equal(2, peer.Commands.Count(c => c.StartsWith("MAIL FROM:", StringComparison.Ordinal)));
        Assert.Single(peer.Commands, c => c.StartsWith("EHLO", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_recipient_still_deferred_when_its_queue_lifetime_ends_is_bounced_with_4_4_7_and_the_last_reply()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["bob@example.net"] = "450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted";
        // Retried every second, given up after 4 s (Postfix maximal_queue_lifetime).
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:MaximalQueueLifetime=00:00:04", "--Outbound:MinimalBackoff=00:00:01",
            "--Outbound:MaximalBackoff=00:00:01");
        await using var _ = host;
        await SubmitRawAsync(submission, "bob@example.net", Message("expires", "greylisted for ever\r\n"));
        await host.WaitForOutputAsync("status=expired", TimeSpan.FromSeconds(60));

        var expired = LineFor(host, "expired");
        log.WriteLine(host.Output);
        Assert.Matches(@"to=<bob@example\.net>, relay=mx\.example\.net\[127\.0\.0\.1\]:\d+, .*status=expired \(450 4\.2\.0 <bob@example\.net>: Recipient address rejected: Greylisted\)", expired);
        // Deferred first (at least once), then given up: tried more than once, never accepted.
        Assert.Contains("status=deferred", host.Output, StringComparison.Ordinal);
        Assert.True(peer.Commands.Count(c => c.StartsWith("RCPT TO:", StringComparison.Ordinal)) >= 2, string.Join("\n", peer.Commands));
        Assert.Empty(peer.Received);

        var notice = Assert.Single(await NoticesAsync(1));
        var group = ReportGroup(notice);
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("4.4.7", group["Status"]);
        Assert.Equal("rfc822; bob@example.net", group["Final-Recipient"]);
        Assert.Contains("delivery time expired; last error: <bob@example.net>: Recipient address rejected: Greylisted", group["Diagnostic-Code"], StringComparison.Ordinal);
        Assert.Equal("<>", notice.Headers["Return-Path"]);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task No_more_than_destination_concurrency_connections_are_open_to_one_domain()
    {
        // A slow server (3 s per message): six messages submitted at once overlap, and at most two are in flight.
        await using var peer = new ScriptedSmtpPeer { DataReplyDelay = TimeSpan.FromSeconds(3) };
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:DestinationConcurrency=2");
        await using var _ = host;
        var dir = Path.Combine(_data.Path, "submit");
        Directory.CreateDirectory(dir);
        var tool = Path.Combine(dir, "six.py");
        await File.WriteAllTextAsync(tool, """
            import sys, smtplib
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.login("alice@example.org", "secret")
            for i in range(6):
                s.sendmail("alice@example.org", ["bob@example.net"], f"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: slow {i}\r\n\r\nmessage {i}\r\n")
            s.quit()
            """);
        var r = await ExternalProcess.RunAsync("/usr/bin/python3", [tool, submission.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);

        await HostProcess.PollAsync(() => Task.FromResult(peer.Received.Count.ToString(CultureInfo.InvariantCulture)), n => n == "6", TimeSpan.FromSeconds(90),
            "not all six messages arrived");
        log.WriteLine($"connections {peer.Connections}, at most {peer.MaxOpen} at once");
        Assert.Equal(2, peer.MaxOpen);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
    }
}
