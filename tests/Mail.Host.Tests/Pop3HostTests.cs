using System.Net;
using Mail.Testing;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Mail.Host.Tests;

/// <summary>
/// The POP3 gateway in the running `mail serve`, with real clients: Python's poplib over STLS and POP3S, raw lines for
/// what poplib cannot send, Debian's fetchmail over STLS into an MDA, and MailKit over IMAP to see the same INBOX.
/// Messages come in over SMTP (Python's smtplib) and are delivered by the worker before POP3 reads them.
/// </summary>
[Collection("host")]
public sealed class Pop3HostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    /// <summary>Helpers every script gets: a TLS context that accepts the host's self-signed certificate, the two ways
    /// in (STLS on the plain port, implicit TLS on the other) and a raw line client for what poplib has no call for.</summary>
    private const string Prelude = """
        import poplib, socket, ssl, base64, imaplib, time
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        def stls(port):
            p = poplib.POP3("127.0.0.1", port, timeout=30); p.stls(context=ctx); return p
        def pop3s(port):
            return poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=30)
        def login(p, user="alice@example.org", password="secret"):
            # A session just dropped may still hold the maildrop lock for a moment: [IN-USE] is worth a retry.
            for attempt in range(50):
                p.user(user)
                try:
                    p.pass_(password); return p
                except poplib.error_proto as e:
                    if b"[IN-USE]" not in e.args[0] or attempt == 49: raise
                    time.sleep(0.1)
        def err(f, *args):
            try:
                return "unexpected " + str(f(*args))
            except poplib.error_proto as e:
                return e.args[0].decode()
        class Raw:
            def __init__(self, port):
                self.s = socket.create_connection(("127.0.0.1", port), timeout=30); self.f = self.s.makefile("rb")
                self.greeting = self.line()
            def line(self):
                l = self.f.readline()
                return l.decode().rstrip("\r\n") if l else "<closed>"
            def cmd(self, text):
                self.s.sendall(text.encode() + b"\r\n"); return self.line()
            def multi(self):
                out = []
                while (l := self.line()) not in (".", "<closed>"): out.append(l)
                return out
        """;

    private static async Task<string[]> PythonAsync(string body)
    {
        var run = await ExternalProcess.RunAsync("python3", ["-c", Prelude + "\n" + body], timeout: TimeSpan.FromSeconds(120));
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        return run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Three messages for alice over SMTP, the third with lines that start with dots, each delivered before
    /// the next is sent so that UIDs (and POP3 message numbers) follow the sending order.</summary>
    private async Task SendThreeAsync(HostProcess host)
    {
        string[] bodies = ["first body", "second body\\r\\nline two", "third body\\r\\n.leading dot\\r\\n..two dots\\r\\nend"];
        for (var i = 0; i < bodies.Length; i++)
        {
            await PythonAsync($$"""
                import smtplib
                s = smtplib.SMTP("127.0.0.1", {{host.SmtpPort}})
                s.sendmail("carol@example.net", ["alice@example.org"], "From: carol@example.net\r\nTo: alice@example.org\r\nSubject: message {{i + 1}}\r\n\r\n{{bodies[i]}}\r\n")
                s.quit()
                """);
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(60));
        }
    }

    private async Task AddUsersAsync()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "bob@example.org", "--password", "secret");
    }

    [Fact]
    public async Task Poplib_retrieves_smtp_mail_uidls_stay_stable_and_only_quit_expunges_what_imap_then_no_longer_sees()
    {
        await AddUsersAsync();
        await using var host = await HostProcess.StartAsync(_data.Path);
        await SendThreeAsync(host);

        var lines = await PythonAsync($$"""
            # Session A over STLS: everything is there; the RETR octets are the stored octets IMAP serves.
            a = login(stls({{host.Pop3Port}}))
            count, octets = a.stat()
            print("stat", count, octets)
            listed = [l.decode() for l in a.list()[1]]
            print("list", " ".join(listed))
            uidl_a = [l.decode() for l in a.uidl()[1]]
            print("uidl-a", " ".join(uidl_a))
            print("uidl-one", a.uidl(2).decode())
            top = a.top(3, 1)[1]
            print("top", top[top.index(b"") + 1:] == [b"third body"], any(l.startswith(b"Subject: message 3") for l in top))
            top0 = a.top(3, 0)[1]
            print("top0", top0[-1] == b"", b"third body" not in top0)
            resp, body, size = a.retr(3)
            print("retr", resp.decode(), b".leading dot" in body, b"..two dots" in body)
            imap = imaplib.IMAP4("127.0.0.1", {{host.ImapPort}}); imap.login("alice@example.org", "secret"); imap.select("INBOX", readonly=True)
            stored = imap.fetch("3", "(BODY.PEEK[])")[1][0][1]
            imap.logout()
            wire = b"\r\n".join(body) + b"\r\n"
            print("exact", wire == stored, len(stored) == int(listed[2].split()[1]) == int(resp.split()[1]))
            print("dele", a.dele(1).decode())
            print("again", err(a.retr, 1))
            print("gone-from-list", [l.decode() for l in a.list()[1]] == listed[1:])
            a.close()  # dropped without QUIT: nothing is expunged

            # Session B over implicit TLS: the DELE of A did not stick; the unique ids are the same.
            b = login(pop3s({{host.Pop3sPort}}))
            print("stat-b", b.stat()[0])
            uidl_b = [l.decode() for l in b.uidl()[1]]
            print("stable-b", uidl_b == uidl_a)
            b.dele(1); b.rset(); print("after-rset", b.stat()[0])
            b.dele(1)
            print("quit", b.quit().decode())

            # Session C: message 1 is gone, the others keep their ids.
            c = login(stls({{host.Pop3Port}}))
            uidl_c = [l.decode().split()[1] for l in c.uidl()[1]]
            print("stable-c", uidl_c == [u.split()[1] for u in uidl_a[1:]])
            c.quit()
            """);
        var byLabel = lines.ToDictionary(l => l.Split(' ', 2)[0], l => l.Split(' ', 2).ElementAtOrDefault(1) ?? "");
        Assert.StartsWith("3 ", byLabel["stat"], StringComparison.Ordinal);
        Assert.Matches(@"^1 \d+ 2 \d+ 3 \d+$", byLabel["list"]);
        Assert.Matches("^1 [0-9A-F]{16} 2 [0-9A-F]{16} 3 [0-9A-F]{16}$", byLabel["uidl-a"]);
        Assert.Matches("^\\+OK 2 [0-9A-F]{16}$", byLabel["uidl-one"]);
        Assert.Equal("True True", byLabel["top"]);
        Assert.Equal("True True", byLabel["top0"]);
        Assert.Matches(@"^\+OK \d+ octets True True$", byLabel["retr"]);
        Assert.Equal("True True", byLabel["exact"]);
        Assert.Equal("+OK Message 1 deleted", byLabel["dele"]);
        Assert.Equal("-ERR Message 1 is already deleted", byLabel["again"]);
        Assert.Equal("True", byLabel["gone-from-list"]);
        Assert.Equal("3", byLabel["stat-b"]);
        Assert.Equal("True", byLabel["stable-b"]);
        Assert.Equal("3", byLabel["after-rset"]);
        Assert.Equal("+OK localhost POP3 server signing off (1 messages deleted)", byLabel["quit"]);
        Assert.Equal("True", byLabel["stable-c"]);

        using var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var subjects = (await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope)).Select(m => m.Envelope!.Subject).ToList();
        Assert.Equal(["message 2", "message 3"], subjects);
        // Session A retrieved message 3 but never sent QUIT: no \Seen either (flags change only in the UPDATE state).
        Assert.All(await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Flags), m => Assert.False(m.Flags!.Value.HasFlag(MessageFlags.Seen)));
    }

    [Fact]
    public async Task Auth_plain_with_and_without_initial_response_and_a_second_session_is_refused_in_use()
    {
        await AddUsersAsync();
        await using var host = await HostProcess.StartAsync(_data.Path, "--Imap:FailedLoginDelay=00:00:00", "--Pop3:FailedLoginDelay=00:00:00");
        await SendThreeAsync(host);
        var lines = await PythonAsync($$"""
            import re
            plain = lambda z, u, p: base64.b64encode(f"{z}\0{u}\0{p}".encode()).decode()
            short = lambda line: re.sub(r" \(\d+ octets\)| \d+$", "", line)
            r = Raw({{host.Pop3Port}})
            print("greeting", r.greeting)
            r.cmd("CAPA"); print("capa", " ".join(r.multi()))
            print("initial", short(r.cmd("AUTH PLAIN " + plain("", "alice@example.org", "secret"))))
            second = Raw({{host.Pop3Port}})
            print("in-use", second.cmd("AUTH PLAIN " + plain("", "alice@example.org", "secret")))
            print("as-other", second.cmd("AUTH PLAIN " + plain("bob@example.org", "alice@example.org", "secret")))
            print("bad-b64", second.cmd("AUTH PLAIN !!!"))
            print("mech", second.cmd("AUTH CRAM-MD5"))
            print("quit", r.cmd("QUIT"))
            print("cont", second.cmd("AUTH PLAIN"), "|", short(second.cmd(plain("", "alice@example.org", "secret"))))
            print("stat", short(second.cmd("STAT")))
            print("cancel-state", second.cmd("AUTH PLAIN"))
            third = Raw({{host.Pop3Port}})
            print("cancel", third.cmd("AUTH PLAIN"), "|", third.cmd("*"))
            print("wrong", third.cmd("AUTH PLAIN " + plain("", "alice@example.org", "wrong")))
            """);
        Assert.Equal(
        [
            "greeting +OK localhost POP3 server ready",
            "capa TOP UIDL RESP-CODES AUTH-RESP-CODE PIPELINING USER SASL PLAIN STLS IMPLEMENTATION Mail.Pop3",
            "initial +OK Logged in; maildrop has 3 messages",
            "in-use -ERR [IN-USE] Maildrop is in use by another POP3 session",
            "as-other -ERR [AUTH] Acting as another user is not allowed",
            "bad-b64 -ERR Authentication response is not base64",
            "mech -ERR Only the PLAIN mechanism is supported",
            "quit +OK localhost POP3 server signing off (0 messages deleted)",
            "cont +  | +OK Logged in; maildrop has 3 messages",
            "stat +OK 3",
            "cancel-state -ERR AUTH is not valid in the TRANSACTION state",
            "cancel +  | -ERR Authentication cancelled",
            "wrong -ERR [AUTH] Invalid credentials",
        ], lines);
    }
    [Fact]
    public async Task Failed_logins_over_imap_and_pop3_meet_one_throttle_per_client_address()
    {
        await AddUsersAsync();
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "carol@example.org", "--password", "secret");
        await using var host = await HostProcess.StartAsync(_data.Path, "--Imap:MaxFailedLogins=3", "--Imap:FailedLoginDelay=00:00:00", "--Pop3:FailedLoginDelay=00:00:00");
        var lines = await PythonAsync($$"""
            def imap_login(user, password):
                i = imaplib.IMAP4("127.0.0.1", {{host.ImapPort}})
                try:
                    i.login(user, password); return "OK"
                except imaplib.IMAP4.error as e:
                    return e.args[0].decode() if isinstance(e.args[0], bytes) else str(e)
                finally:
                    i.shutdown()
            # Two failures over IMAP (for alice), one over POP3 (for bob): three from this address.
            print(imap_login("alice@example.org", "wrong")); print(imap_login("alice@example.org", "wrong"))
            p = poplib.POP3("127.0.0.1", {{host.Pop3Port}})
            print(err(login, p, "bob@example.org", "wrong"))
            # carol's own count is zero: only the address's count can refuse her right password, over both protocols.
            print(err(login, p, "carol@example.org", "secret"))
            print(imap_login("carol@example.org", "secret"))
            """);
        Assert.Equal(
        [
            "[AUTHENTICATIONFAILED] Invalid credentials", "[AUTHENTICATIONFAILED] Invalid credentials",
            "-ERR [AUTH] Invalid credentials",
            "-ERR [SYS/TEMP] Too many failed logins; try again later",
            "[UNAVAILABLE] Too many failed logins; try again later",
        ], lines);
    }

    [Fact]
    public async Task Plaintext_login_follows_the_imap_setting_and_works_after_stls_and_connections_past_the_limit_are_refused()
    {
        await AddUsersAsync();
        await using var host = await HostProcess.StartAsync(_data.Path, "--Imap:AllowPlaintextLoginOnLoopback=false", "--Pop3:MaxConnections=1");
        var lines = await PythonAsync($$"""
            r = Raw({{host.Pop3Port}})
            print("second", Raw({{host.Pop3Port}}).greeting)
            r.cmd("CAPA"); print("capa", " ".join(r.multi()))
            print("user", r.cmd("USER alice@example.org"))
            print("auth", r.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA=="))
            r.f.close(); r.s.close(); time.sleep(0.5)  # Pop3:MaxConnections=1: the next session needs this one gone
            p = stls({{host.Pop3Port}})
            print("capa-tls", " ".join(c for c in p.capa()))
            print("login", login(p).stat()[0])
            print("stls-again", err(p._shortcmd, "STLS"))
            p.quit()
            """);
        Assert.Equal(
        [
            "second -ERR [SYS/TEMP] Too many connections, try later",
            "capa TOP UIDL RESP-CODES AUTH-RESP-CODE PIPELINING STLS IMPLEMENTATION Mail.Pop3",
            "user -ERR [AUTH] Plaintext authentication is not allowed without TLS; use STLS first",
            "auth -ERR [AUTH] Plaintext authentication is not allowed without TLS; use STLS first",
            "capa-tls TOP UIDL RESP-CODES AUTH-RESP-CODE PIPELINING USER SASL IMPLEMENTATION",
            "login 0",
            "stls-again -ERR STLS is not valid in the TRANSACTION state",
        ], lines);
    }

    [Fact]
    public async Task Bad_input_gets_clear_replies_and_too_many_bad_commands_or_idling_close_the_session()
    {
        await AddUsersAsync();
        await using var host = await HostProcess.StartAsync(_data.Path, "--Pop3:IdleTimeout=00:00:02", "--Pop3:MaxBadCommands=5", "--Pop3:MaxLineLength=300");
        await SendThreeAsync(host);
        var lines = await PythonAsync($$"""
            r = Raw({{host.Pop3Port}})
            print(r.cmd("STAT"))
            print(r.cmd("XYZZY"))
            print(r.cmd("PASS secret"))
            print(r.cmd("USER"))
            print(r.cmd("USER " + "x" * 400))
            print(r.line())
            print(r.line())
            p = Raw({{host.Pop3Port}})
            p.cmd("USER alice@example.org"); p.cmd("PASS secret")
            print(p.cmd("RETR 9"))
            print(p.cmd("RETR x"))
            print(p.cmd("DELE 3")); print(p.cmd("TOP 3 0"))
            print(p.cmd("TOP 1"))
            print(p.cmd("LIST 0"))
            print(p.cmd("USER bob"))
            print(p.cmd("NOOP"))
            # Pipelined (RFC 2449 PIPELINING): both answers arrive, in order.
            p.s.sendall(b"NOOP\r\nSTAT\r\n"); print(p.line(), "|", p.line()[:5])
            time.sleep(3)
            print(p.line())
            print(p.line())
            """);
        Assert.Equal(
        [
            "-ERR STAT is not valid in the AUTHORIZATION state",
            "-ERR Unknown command XYZZY",
            "-ERR Send USER first",
            "-ERR Syntax: USER name",
            "-ERR Line longer than 300 octets",
            "-ERR Too many bad commands; closing the connection",
            "<closed>",
            "-ERR No message 9",
            "-ERR No message x",
            "+OK Message 3 deleted", "-ERR Message 3 is already deleted",
            "-ERR Syntax: TOP msg n",
            "-ERR No message 0",
            "-ERR USER is not valid in the TRANSACTION state",
            "+OK",
            "+OK | +OK 2",
            "-ERR Autologout; idle for too long",
            "<closed>",
        ], lines);
        // The autologout expunged nothing (message 3 was only marked) and the lock went with the session.
        Assert.Equal(["+OK 3"], (await PythonAsync($$"""
            p = login(poplib.POP3("127.0.0.1", {{host.Pop3Port}})); print(p._shortcmd("STAT").decode()[:5]); p.quit()
            """)));
    }

    [Fact]
    public async Task Fetchmail_over_stls_retrieves_into_an_mda_and_deletes_what_it_fetched()
    {
        Assert.True(ExternalProcess.IsOnPath("fetchmail"), "fetchmail is required (Debian package fetchmail)");
        await AddUsersAsync();
        await using var host = await HostProcess.StartAsync(_data.Path);
        await SendThreeAsync(host);
        var mbox = Path.Combine(_data.Path, "fetched.mbox");
        var rc = Path.Combine(_data.Path, "fetchmailrc");
        // sslproto tls1.2+ makes TLS mandatory: fetchmail must use STLS on the plain port. The host's certificate is
        // self-signed, hence no sslcertck.
        await File.WriteAllTextAsync(rc, $"""
            set no bouncemail
            poll 127.0.0.1 with proto POP3 port {host.Pop3Port}
              user "alice@example.org" there with password "secret" is "root" here
              sslproto "tls1.2+" no sslcertck
              mda "cat >> {mbox}"
            """);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(rc, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var run = await ExternalProcess.RunAsync("fetchmail", ["-v", "--nodetach", "--nosyslog", "-f", rc, "--pidfile", Path.Combine(_data.Path, "fetchmail.pid")],
            timeout: TimeSpan.FromSeconds(120), environment: new Dictionary<string, string> { ["HOME"] = _data.Path, ["LC_ALL"] = "C" });
        var output = run.StdOut + run.StdErr;
        Assert.True(run.ExitCode == 0, output);
        Assert.Contains("POP3> STLS", output, StringComparison.Ordinal);
        Assert.Contains("3 messages", output, StringComparison.Ordinal);
        var fetched = await File.ReadAllTextAsync(mbox);
        Assert.Contains("Subject: message 1", fetched, StringComparison.Ordinal);
        Assert.Contains("Subject: message 3", fetched, StringComparison.Ordinal);
        Assert.Contains("\n.leading dot", fetched, StringComparison.Ordinal);
        // Without --keep, fetchmail deleted them and QUIT expunged: IMAP sees an empty INBOX.
        using var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.Equal(0, imap.Inbox.Count);
    }

    [Fact]
    public async Task A_message_appended_over_imap_with_bare_lfs_goes_out_with_crlf_and_dot_stuffed()
    {
        await AddUsersAsync();
        await using var host = await HostProcess.StartAsync(_data.Path);
        var lines = await PythonAsync($$"""
            # Raw IMAP: imaplib's append would turn the bare LFs into CRLF itself.
            a = socket.create_connection(("127.0.0.1", {{host.ImapPort}}), timeout=30); af = a.makefile("rb"); af.readline()
            def tagged(tag, data):
                a.sendall(data)
                while not (l := af.readline()).startswith(tag): pass
                return l
            tagged(b"a ", b"a LOGIN alice@example.org secret\r\n")
            msg = b"Subject: bare\n\nline one\n.dot line\nlast line without end"
            print(tagged(b"b ", b"b APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n").decode().split(" ")[1])
            s = socket.create_connection(("127.0.0.1", {{host.Pop3Port}}), timeout=30); f = s.makefile("rb"); f.readline()
            s.sendall(b"USER alice@example.org\r\nPASS secret\r\nRETR 1\r\nTOP 1 1\r\nQUIT\r\n")
            data = f.read()
            print(repr(data.split(b"\r\n", 2)[2]))
            """);
        Assert.Equal(
            @"b'+OK 55 octets\r\nSubject: bare\r\n\r\nline one\r\n..dot line\r\nlast line without end\r\n.\r\n" +
            @"+OK Top of message follows\r\nSubject: bare\r\n\r\nline one\r\n.\r\n" +
            @"+OK localhost POP3 server signing off (0 messages deleted)\r\n'",
            lines[1]);
        Assert.Equal("OK", lines[0]);
    }

    [Fact]
    public async Task Behind_haproxy_the_relayed_client_is_the_one_logged_and_a_connection_without_the_header_is_closed()
    {
        await AddUsersAsync();
        await using var host = await HostProcess.StartAsync(_data.Path, "--Pop3:Listeners:0:ProxyProtocol=true", "--Pop3:ProxyNetworks:0=127.0.0.1",
            "--Pop3:FailedLoginDelay=00:00:00");
        await using var haproxy = await HaproxyProcess.StartAsync(new HaproxyProcess.Route("pop3_v2", "send-proxy-v2", new IPEndPoint(IPAddress.Loopback, host.Pop3Port)));
        var lines = await PythonAsync($$"""
            s = socket.create_connection(("127.0.0.1", {{haproxy.Ports["pop3_v2"]}}), timeout=30, source_address=("127.0.0.9", 0))
            f = s.makefile("rb"); print(f.readline().decode().strip())
            s.sendall(b"USER alice@example.org\r\nPASS wrong\r\n"); f.readline(); print(f.readline().decode().strip())
            direct = Raw({{host.Pop3Port}})
            print(direct.greeting)
            """);
        Assert.Equal(["+OK localhost POP3 server ready", "-ERR [AUTH] Invalid credentials", "<closed>"], lines);
        await Task.Delay(500);
        Assert.Contains("POP3 login failed for alice@example.org from 127.0.0.9", host.Output, StringComparison.Ordinal);
        Assert.Contains("POP3 listener pop3: connection from 127.0.0.1", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_shutdown_tells_the_session_and_expunges_nothing_it_marked()
    {
        await AddUsersAsync();
        var marked = Path.Combine(_data.Path, "marked");
        int count;
        {
            await using var host = await HostProcess.StartAsync(_data.Path);
            await SendThreeAsync(host);
            var client = PythonAsync($$"""
                r = Raw({{host.Pop3Port}})
                r.cmd("USER alice@example.org"); r.cmd("PASS secret"); print(r.cmd("DELE 1"))
                open("{{marked}}", "w").close()
                print(r.line()); print(r.line())
                """);
            for (var i = 0; i < 300 && !File.Exists(marked); i++) await Task.Delay(100);
            Assert.True(File.Exists(marked), "the POP3 client did not get to DELE");
            Assert.Equal(0, await host.TerminateAsync());
            Assert.Equal(["+OK Message 1 deleted", "-ERR [SYS/TEMP] Server shutting down", "<closed>"], await client);
        }
        await using (var again = await HostProcess.StartAsync(_data.Path))
        {
            var lines = await PythonAsync($$"""
                p = login(poplib.POP3("127.0.0.1", {{again.Pop3Port}})); print(p.stat()[0]); p.quit()
                """);
            count = int.Parse(Assert.Single(lines), System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.Equal(3, count);
    }
}
