using System.Globalization;
using System.Diagnostics;
using System.Net;
using Mail.Storage.Embedded;
using Mail.Testing;
using Mail.Testing.Dns;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// The outbound stage in the real `mail serve`: mail submitted on a submission port with AUTH leaves through MX
/// routing found by a loopback DNS server, to Postfix's smtp-sink or a scripted peer on loopback
/// (Outbound:RemotePort); per-recipient outcomes, DSNs back into the sender's mailbox, null MX.
/// </summary>
[Collection("host")]
public sealed partial class OutboundHostTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly TempData _data = new();
    private TestDnsServer _dns = null!;

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
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

    internal static async Task<string> SubmitAsync(int port, string subject, params string[] to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.org"));
        foreach (var t in to) message.To.Add(MailboxAddress.Parse(t));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "outbound test body\r\n" };
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
        await smtp.AuthenticateAsync("alice@example.org", "secret");
        var reply = await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
        return reply;
    }

    internal static Process StartSmtpSink(int port, string dumpDirectory)
    {
        Assert.True(ExternalProcess.IsOnPath("smtp-sink") || File.Exists("/usr/sbin/smtp-sink"), "smtp-sink is required (Debian package postfix)");
        var psi = new ProcessStartInfo(File.Exists("/usr/sbin/smtp-sink") ? "/usr/sbin/smtp-sink" : "smtp-sink") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-u", "postfix", "-d", Path.Combine(dumpDirectory, "%M."), $"127.0.0.1:{port}", "100" }) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    [Fact]
    public async Task Submitted_mail_to_a_remote_domain_is_delivered_to_its_mx_found_in_dns_and_the_queue_empties()
    {
        var sinkPort = FreePort.Tcp();
        var dumps = Path.Combine(_data.Path, "sink");
        Directory.CreateDirectory(dumps);
        // smtp-sink drops privileges to postfix; it must be able to write its dumps.
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(dumps, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
                | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);
        using var sink = StartSmtpSink(sinkPort, dumps);
        try
        {
            _dns.AddMx("example.net", 10, "mx.example.net");
            _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
            var (host, submission) = await StartAsync(sinkPort);
            await using var _ = host;
            var subject = "to the sink " + Guid.NewGuid().ToString("N")[..8];
            await SubmitAsync(submission, subject, "bob@example.net");

            var dump = await HostProcess.PollAsync(() => Task.FromResult(string.Join("\n", Directory.EnumerateFiles(dumps, "*", SearchOption.AllDirectories).Select(File.ReadAllText))),
                d => d.Contains(subject, StringComparison.Ordinal), TimeSpan.FromSeconds(30), "smtp-sink never received the message");
            Assert.Contains("bob@example.net", dump, StringComparison.Ordinal);
            await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(10));
            var line = host.Output.Split('\n').First(l => l.Contains("status=sent", StringComparison.Ordinal));
            log.WriteLine(line);
            Assert.Matches(@"to=<bob@example\.net>, relay=mx\.example\.net\[127\.0\.0\.1\]:\d+, delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent \(250 ", line);
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        }
        finally
        {
            sink.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Idle_workers_are_woken_by_the_mail_they_are_given_not_by_their_polls()
    {
        await using var peer = new ScriptedSmtpPeer();
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        // Poll intervals no test waits for: the outbound worker is idle when the inbound stage queues the message,
        // and only the spool's wake-up can start the delivery within the wait below.
        var (host, submission) = await StartAsync(peer.Port, "--Outbound:PollInterval=00:10:00", "--Worker:PollInterval=00:10:00");
        await using var _ = host;
        var subject = "woken " + Guid.NewGuid().ToString("N")[..8];
        await SubmitAsync(submission, subject, "bob@example.net");

        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Contains(subject, Assert.Single(peer.Received).Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_recipient_gets_its_own_outcome_and_the_sender_gets_a_dsn_for_the_bounced_one()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["nobody@example.net"] = "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown";
        peer.RcptReplies["later@example.net"] = "450 4.2.0 <later@example.net>: Recipient address rejected: Greylisted";
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var subject = "three recipients " + Guid.NewGuid().ToString("N")[..8];
        await SubmitAsync(submission, subject, "bob@example.net", "nobody@example.net", "later@example.net");

        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        Assert.Contains("to=<bob@example.net>", host.Output.Split('\n').Single(l => l.Contains("status=sent", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains("dsn=5.1.1, status=bounced", host.Output, StringComparison.Ordinal);
        var delivered = Assert.Single(peer.Received);
        Assert.Equal(["bob@example.net"], delivered.Recipients);
        Assert.Contains(subject, delivered.Data, StringComparison.Ordinal);

        // The queue keeps only the deferred recipient, with its reply; the other two are final.
        var queue = (await HostProcess.AdminOkAsync(_data.Path, "queue")).StdOut;
        log.WriteLine(queue);
        Assert.Contains("<later@example.net> deferred, 1 attempt(s)", queue, StringComparison.Ordinal);
        Assert.Contains("450 4.2.0", queue, StringComparison.Ordinal);
        Assert.Contains("<nobody@example.net> bounced", queue, StringComparison.Ordinal);

        // The bounce is in alice's own mailbox, an RFC 3464 report MimeKit reads back.
        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        var records = await HostProcess.PollAsync(async () => (await mailboxes.ListMessagesAsync("alice@example.org", "INBOX")).Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            n => n == "1", TimeSpan.FromSeconds(30), "no bounce in alice's INBOX");
        var record = Assert.Single(await mailboxes.ListMessagesAsync("alice@example.org", "INBOX"));
        var bounce = await DeliveredCopies.LoadAsync(_data.Path, record.MessageRef);
        var report = Assert.IsType<MultipartReport>(bounce.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var status = Assert.Single(report.OfType<MessageDeliveryStatus>());
        var group = Assert.Single(status.StatusGroups.Skip(1), g => g.Count > 0);
        Assert.Equal("rfc822; nobody@example.net", group["Final-Recipient"]);
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("5.1.1", group["Status"]);
        Assert.StartsWith("smtp; 550 5.1.1", group["Diagnostic-Code"], StringComparison.Ordinal);
        Assert.Contains(report, p => p.ContentType.IsMimeType("text", "rfc822-headers"));
        Assert.Equal("<>", bounce.Headers["Return-Path"]);
    }

    [Fact]
    public async Task A_domain_with_a_null_mx_bounces_at_once_with_5_1_10()
    {
        _dns.AddMx("nomail.example", 0, ".");
        var (host, submission) = await StartAsync(FreePort.Tcp());
        await using var _ = host;
        await SubmitAsync(submission, "null mx", "someone@nomail.example");
        await host.WaitForOutputAsync("status=bounced", TimeSpan.FromSeconds(30));
        Assert.Contains("to=<someone@nomail.example>, relay=none", host.Output, StringComparison.Ordinal);
        Assert.Contains("dsn=5.1.10, status=bounced", host.Output, StringComparison.Ordinal);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Dns_failure_defers_and_never_bounces()
    {
        _dns.SetServFail("broken.example");
        var (host, submission) = await StartAsync(FreePort.Tcp());
        await using var _ = host;
        await SubmitAsync(submission, "servfail", "someone@broken.example");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        Assert.Contains("dsn=4.4.3, status=deferred", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("status=bounced", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_mx_pointing_back_at_this_host_is_a_mail_loop()
    {
        _dns.AddMx("loop.example", 10, "mail.example.org");
        var (host, submission) = await StartAsync(FreePort.Tcp());
        await using var _ = host;
        await SubmitAsync(submission, "loop", "someone@loop.example");
        await host.WaitForOutputAsync("status=bounced", TimeSpan.FromSeconds(30));
        Assert.Contains("dsn=5.4.6, status=bounced", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Queue_commands_hold_release_and_delete_a_deferred_envelope_in_the_running_server()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["later@example.net"] = "451 4.3.0 try again later";
        peer.RcptReplies["gone@example.net"] = "451 4.3.0 try again later";
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var first = QueueIdOf(await SubmitAsync(submission, "held then released", "later@example.net"));
        var second = QueueIdOf(await SubmitAsync(submission, "deleted", "gone@example.net"));
        await HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Split('\n').Count(l => l.Contains("status=deferred", StringComparison.Ordinal)) >= 2,
            TimeSpan.FromSeconds(30), "both were not deferred");

        // The command records the hold and tells the running server, which has applied it when the command returns.
        Assert.Contains("applied by the running server", (await HostProcess.AdminOkAsync(_data.Path, "queue", "hold", first)).StdOut, StringComparison.Ordinal);
        await HostProcess.PollAsync(async () => (await HostProcess.AdminOkAsync(_data.Path, "queue", "show", first)).StdOut,
            o => o.Contains("<later@example.net> held", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "not held");

        // The remote now accepts; a release delivers at once instead of at the next retry five minutes later.
        peer.RcptReplies.TryRemove("later@example.net", out string? _);
        await HostProcess.AdminOkAsync(_data.Path, "queue", "release", first);
        await host.WaitForOutputAsync($"{first}: to=<later@example.net>, relay=mx.example.net", TimeSpan.FromSeconds(5));
        await HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Contains("to=<later@example.net>", StringComparison.Ordinal) && o.Contains("status=sent", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "not sent after release");
        Assert.Single(peer.Received);

        await HostProcess.AdminOkAsync(_data.Path, "queue", "delete", "ALL");
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        Assert.Contains($"{second}: removed by an operator", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("status=bounced", host.Output, StringComparison.Ordinal);
    }

    /// <summary>The console's queue actions take the CLI's path (the server's control socket): applied when the page or
    /// the API call returns, not at the outbound stage's next poll.</summary>
    [Fact]
    public async Task Console_queue_actions_are_applied_by_the_running_server_before_the_reply()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["later@example.net"] = "451 4.3.0 try again later";
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "admin@example.org", "--password", "pw", "--admin");
        var console = FreePort.Tcp();
        var (host, submission) = await StartAsync(peer.Port, $"--Admin:Endpoint=127.0.0.1:{console}");
        await using var _ = host;
        var id = QueueIdOf(await SubmitAsync(submission, "held from the console", "later@example.net"));
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        using var http = await ConsoleSignInAsync(console);

        // The page: the redirect says the running server applied it, and the queue shows it held at once.
        var form = await http.GetStringAsync("/queue");
        var csrf = System.Text.RegularExpressions.Regex.Match(form, "name=\"csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        using (var hold = await http.PostAsync($"/queue/{id}/hold", new FormUrlEncodedContent([new("csrf", csrf)])))
        {
            Assert.Equal(HttpStatusCode.Redirect, hold.StatusCode);
            Assert.Contains("applied by the running server", Uri.UnescapeDataString(hold.Headers.Location!.ToString()), StringComparison.Ordinal);
        }
        Assert.Contains("<later@example.net> held", (await HostProcess.AdminOkAsync(_data.Path, "queue", "show", id)).StdOut, StringComparison.Ordinal);

        // The API: the remote accepts now; release returns once applied (the envelope is due again), and it is delivered.
        peer.RcptReplies.TryRemove("later@example.net", out string? _);
        using var release = new HttpRequestMessage(HttpMethod.Post, $"/api/queue/{id}/release");
        release.Headers.Add("X-CSRF-Token", csrf);
        using (var released = await http.SendAsync(release)) Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        await HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Contains("status=sent", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "not sent after the release");
        Assert.Single(peer.Received);
    }

    private static async Task<HttpClient> ConsoleSignInAsync(int port)
    {
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var form = await http.GetStringAsync("/signin");
        var csrf = System.Text.RegularExpressions.Regex.Match(form, "name=\"csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        using var body = new FormUrlEncodedContent([new("user", "admin@example.org"), new("password", "pw"), new("csrf", csrf)]);
        using var signedIn = await http.PostAsync("/signin", body);
        Assert.Equal(HttpStatusCode.SeeOther, signedIn.StatusCode);
        return http;
    }

    [Fact]
    public async Task Sigkill_during_delivery_then_restart_delivers_every_recipient()
    {
        await using var peer = new ScriptedSmtpPeer();
        var silence = new TaskCompletionSource();
        peer.HoldDataReply = silence.Task;
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        var subject = "crash " + Guid.NewGuid().ToString("N")[..8];
        await using (host)
        {
            await SubmitAsync(submission, subject, "bob@example.net", "carol@example.net");
            // The message data reached the peer, which never answers: the delivery is in progress when the host dies.
            await HostProcess.PollAsync(() => Task.FromResult(peer.Held.ToString(System.Globalization.CultureInfo.InvariantCulture)), h => h == "1",
                TimeSpan.FromSeconds(30), "the delivery never reached the data stage");
            await host.KillAsync();
        }
        peer.HoldDataReply = null;
        silence.SetResult();

        var (again, _) = await StartAsync(peer.Port);
        await using var _ = again;
        await HostProcess.PollAsync(() => Task.FromResult(again.Output), o => o.Split('\n').Count(l => l.Contains("status=sent", StringComparison.Ordinal)) == 2,
            TimeSpan.FromSeconds(30), "not every recipient was delivered after the restart");
        var delivered = Assert.Single(peer.Received);
        Assert.Equal(["bob@example.net", "carol@example.net"], delivered.Recipients.Order());
        Assert.Contains(subject, delivered.Data, StringComparison.Ordinal);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
    }

    private const string DkimTool = """
        import sys, dkim
        mode, path = sys.argv[1], sys.argv[2]
        msg = sys.stdin.buffer.read()
        if mode == "sign":
            sig = dkim.sign(msg, b"sel", b"remote.example", open(path, "rb").read(), canonicalize=(b"simple", b"simple"),
                            include_headers=[b"from", b"to", b"subject", b"message-id"])
            sys.stdout.buffer.write(sig + msg)
        else:
            txt = open(path, "rb").read().strip()
            print("pass" if dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt) else "fail")
        """;

    [Fact]
    public async Task A_relayed_message_goes_out_byte_for_byte_so_the_senders_dkim_signature_still_verifies_with_dkimpy()
    {
        var dir = Path.Combine(_data.Path, "dkim");
        Directory.CreateDirectory(dir);
        var key = Path.Combine(dir, "key.pem");
        Assert.Equal(0, (await ExternalProcess.RunAsync("openssl", ["genrsa", "-out", key, "2048"])).ExitCode);
        var der = Path.Combine(dir, "pub.der");
        Assert.Equal(0, (await ExternalProcess.RunAsync("openssl", ["rsa", "-in", key, "-pubout", "-outform", "DER", "-out", der])).ExitCode);
        var txt = Path.Combine(dir, "txt");
        await File.WriteAllTextAsync(txt, "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(await File.ReadAllBytesAsync(der)));
        var tool = Path.Combine(dir, "dkimtool.py");
        await File.WriteAllTextAsync(tool, DkimTool);

        // A message with a dot-leading line and trailing spaces: the kind of bytes a re-encoding would change.
        var original = "From: someone@remote.example\r\nTo: bob@example.net\r\nSubject: signed elsewhere\r\nMessage-ID: <dkim-relay@remote.example>\r\n\r\n"
            + "First line  \r\n.leading dot\r\n\tindented\r\n";
        var signed = await ExternalProcess.RunAsync("/usr/bin/python3", [tool, "sign", key], original);
        Assert.True(signed.ExitCode == 0, signed.StdErr);
        var signedFile = Path.Combine(dir, "signed.eml");
        await File.WriteAllTextAsync(signedFile, signed.StdOut);

        await using var peer = new ScriptedSmtpPeer();
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        var swaks = await ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{submission}", "--auth", "PLAIN", "--auth-user", "alice@example.org",
            "--auth-password", "secret", "--from", "alice@example.org", "--to", "bob@example.net", "--data", "@" + signedFile]);
        Assert.True(swaks.ExitCode == 0, swaks.StdOut + swaks.StdErr);
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var delivered = Assert.Single(peer.Received).Data;
        // Our Received: (added by the edge) in front, then the signed message exactly as submitted (swaks ends its DATA
        // with one more CRLF of its own before the dot).
        Assert.StartsWith("Received: ", delivered, StringComparison.Ordinal);
        Assert.EndsWith(signed.StdOut.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n", delivered, StringComparison.Ordinal);
        var verify = await ExternalProcess.RunAsync("/usr/bin/python3", [tool, "verify", txt], delivered);
        Assert.True(verify.StdOut.Trim() == "pass", verify.StdOut + verify.StdErr);
    }

    [Fact]
    public async Task Mail_from_our_domain_leaves_with_rsa_and_ed25519_signatures_that_dkimpy_verifies_with_the_printed_records()
    {
        var added = await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org");
        var records = DkimHostTests.ZoneRecords(added.StdOut);
        Assert.Equal(2, records.Count);
        await using var peer = new ScriptedSmtpPeer();
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitAsync(submission, "signed by us", "bob@example.net");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var delivered = Assert.Single(peer.Received).Data;
        Assert.StartsWith("DKIM-Signature: ", delivered, StringComparison.Ordinal);
        var verdicts = await DkimHostTests.VerifyAsync(delivered, records);
        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
        Assert.Contains(verdicts, v => v.Contains(" a=rsa-sha256 ", StringComparison.Ordinal));
        Assert.Contains(verdicts, v => v.Contains(" a=ed25519-sha256 ", StringComparison.Ordinal));
        // The stage parses the message once and the signer reads that parse: the Content-* fields (lent to the body
        // entity while signing, where MimeKit's signer reads them) are signed too, and From once more than it occurs.
        var signedFields = System.Text.RegularExpressions.Regex.Matches(delivered, @"^DKIM-Signature:.*?\bh=([^;]+);",
                System.Text.RegularExpressions.RegexOptions.Singleline | System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => System.Text.RegularExpressions.Regex.Replace(m.Groups[1].Value, @"\s", "")).ToList();
        Assert.Equal(2, signedFields.Count);
        Assert.All(signedFields, h => Assert.StartsWith("from:from:", h, StringComparison.Ordinal));
        Assert.All(signedFields, h => Assert.Contains(":content-type", h, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_key_added_by_the_cli_signs_the_next_message_of_a_running_server_despite_its_key_cache()
    {
        await using var peer = new ScriptedSmtpPeer();
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        // An hour of key cache: only the CLI's word to the server (its control socket) can make the new key sign now.
        var (host, submission) = await StartAsync(peer.Port, "--Dkim:KeyCacheTtl=01:00:00");
        await using var _ = host;
        await SubmitAsync(submission, "before the key", "bob@example.net");
        await HostProcess.PollAsync(() => Task.FromResult(peer.Received.Count.ToString(CultureInfo.InvariantCulture)), n => n == "1", TimeSpan.FromSeconds(30), "first message not delivered");
        Assert.DoesNotContain("DKIM-Signature:", peer.Received.First().Data, StringComparison.Ordinal);

        var records = DkimHostTests.ZoneRecords((await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org", "--algorithm", "ed25519")).StdOut);
        await SubmitAsync(submission, "after the key", "bob@example.net");
        await HostProcess.PollAsync(() => Task.FromResult(peer.Received.Count.ToString(CultureInfo.InvariantCulture)), n => n == "2", TimeSpan.FromSeconds(30), "second message not delivered");
        var signed = peer.Received.Last().Data;
        Assert.StartsWith("DKIM-Signature: ", signed, StringComparison.Ordinal);
        Assert.All(await DkimHostTests.VerifyAsync(signed, records), v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_a_relay_host_everything_goes_through_it_over_starttls_with_auth()
    {
        // The relay: a second `mail serve` that receives for example.net and lets an authenticated account relay.
        using var relayData = new TempData();
        await HostProcess.AdminOkAsync(relayData.Path, "domain", "add", "example.net");
        await HostProcess.AdminOkAsync(relayData.Path, "user", "add", "bob@example.net", "--password", "bobpw");
        await HostProcess.AdminOkAsync(relayData.Path, "user", "add", "relay@example.net", "--password", "relaypw");
        var relayPort = FreePort.Tcp();
        await using var relay = await HostProcess.StartAsync(relayData.Path,
            "--Smtp:Listeners:1:Name=submission", $"--Smtp:Listeners:1:Endpoint=127.0.0.1:{relayPort}", "--Smtp:Listeners:1:Role=Submission",
            "--Smtp:HostName=relay.example.net", "--Smtp:RequireSenderOwnership=false");

        // No MX for example.net anywhere: only the relay host can deliver it.
        var (host, submission) = await StartAsync(FreePort.Tcp(), $"--Outbound:RelayHost=[127.0.0.1]:{relayPort}", "--Outbound:RelayUser=relay@example.net",
            "--Outbound:RelayPassword=relaypw", "--Outbound:RelayTlsAcceptAnyCertificate=true");
        await using var _ = host;
        var subject = "via relay " + Guid.NewGuid().ToString("N")[..8];
        await SubmitAsync(submission, subject, "bob@example.net");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Contains($"to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:{relayPort}", host.Output, StringComparison.Ordinal);
        var list = await HostProcess.PollAsync(async () => (await HostProcess.AdminOkAsync(relayData.Path, "mailbox", "list", "bob@example.net")).StdOut,
            o => o.Contains(subject, StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the relay did not deliver to bob");
        Assert.Contains("alice@example.org", list, StringComparison.Ordinal);
        // The relay saw TLS and AUTH (its Received: says ESMTPSA).
        var mailboxes = new SqliteMailboxStore(Path.Combine(relayData.Path, "mail.db"));
        var record = Assert.Single(await mailboxes.ListMessagesAsync("bob@example.net", "INBOX"));
        Assert.Contains("with ESMTPSA", await DeliveredCopies.ReadTextAsync(relayData.Path, record.MessageRef), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_relay_host_without_starttls_is_not_used_and_the_mail_is_deferred()
    {
        await using var peer = new ScriptedSmtpPeer();
        var (host, submission) = await StartAsync(FreePort.Tcp(), $"--Outbound:RelayHost=[127.0.0.1]:{peer.Port}");
        await using var _ = host;
        await SubmitAsync(submission, "no tls", "bob@example.net");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        Assert.Contains("dsn=4.7.4, status=deferred (TLS is required", host.Output, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
    }

    [Fact]
    public async Task Without_mx_the_domain_itself_is_the_mx_and_an_unreachable_first_mx_passes_the_turn_to_the_next()
    {
        await using var peer = new ScriptedSmtpPeer();
        // implicit.example has no MX, only an address (RFC 5321 5.1).
        _dns.Add("implicit.example", DnsRecordType.A, "127.0.0.1");
        // two.example: the preferred MX refuses connections (nothing listens on 127.0.0.2), the second takes the mail.
        _dns.AddMx("two.example", 10, "down.two.example");
        _dns.Add("down.two.example", DnsRecordType.A, "127.0.0.2");
        _dns.AddMx("two.example", 20, "up.two.example");
        _dns.Add("up.two.example", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitAsync(submission, "implicit and backup", "someone@implicit.example", "other@two.example");
        await HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Split('\n').Count(l => l.Contains("status=sent", StringComparison.Ordinal)) == 2,
            TimeSpan.FromSeconds(30), "both were not sent");
        Assert.Contains("to=<someone@implicit.example>, relay=implicit.example[127.0.0.1]", host.Output, StringComparison.Ordinal);
        Assert.Contains("to=<other@two.example>, relay=up.two.example[127.0.0.1]", host.Output, StringComparison.Ordinal);
        Assert.Equal(2, peer.Received.Count);
    }

    [Fact]
    public async Task A_failed_tls_handshake_falls_back_to_plaintext_under_the_opportunistic_policy()
    {
        await using var peer = new ScriptedSmtpPeer { BrokenStartTls = true };
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitAsync(submission, "tls broken", "bob@example.net");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Single(peer.Received);
        Assert.Equal(2, peer.Connections);
    }

    [Fact]
    public async Task A_server_answering_garbage_defers_and_never_bounces()
    {
        await using var peer = new ScriptedSmtpPeer { Greeting = "HELLO? this is not SMTP" };
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        var (host, submission) = await StartAsync(peer.Port);
        await using var _ = host;
        await SubmitAsync(submission, "garbage", "bob@example.net");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        Assert.Contains("to=<bob@example.net>", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("status=bounced", host.Output, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
    }

    private static string QueueIdOf(string reply) => reply.Trim().Split(' ')[^1];
}
