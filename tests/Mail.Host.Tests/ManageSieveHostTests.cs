using Mail.Testing;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// ManageSieve (RFC 5804) in the running `mail serve`: Debian's sieve-connect over STARTTLS with AUTHENTICATE PLAIN
/// manages the scripts, and one uploaded that way then files a message sent over SMTP (read back over IMAP with
/// MailKit); raw lines from Python for what sieve-connect never sends (literal forms, limits, bad commands, the
/// plaintext rule, the login throttle, the idle timeout).
/// </summary>
[Collection("host")]
public sealed class ManageSieveHostTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly TempData _data = new();

    public async Task InitializeAsync()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
    }

    public Task DisposeAsync()
    {
        _data.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A raw ManageSieve client: <c>cmd</c> sends a line (with literal octets after it when given) and returns
    /// the response lines up to and including the OK/NO/BYE one, a literal in a line read in full.</summary>
    private const string Prelude = """
        import socket, ssl, base64, re, time
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        class Raw:
            def __init__(self, port):
                self.s = socket.create_connection(("127.0.0.1", port), timeout=30); self.f = self.s.makefile("rb")
                self.greeting = self.response()
            def line(self):
                l = self.f.readline()
                if not l: return "<closed>"
                l = l.decode().rstrip("\r\n")
                m = re.search(r"\{(\d+)\}$", l)
                if m:
                    data = self.f.read(int(m.group(1))).decode()
                    l = l[:m.start()] + "[" + data.replace("\r\n", "|") + "]" + self.line()
                return l
            def response(self):
                out = []
                while True:
                    l = self.line(); out.append(l)
                    if l == "<closed>" or re.match(r"(OK|NO|BYE)\b", l): return out
            def send(self, data):
                self.s.sendall(data if isinstance(data, bytes) else data.encode())
            def cmd(self, text):
                self.send(text + "\r\n"); return self.response()
            def last(self, text):
                return self.cmd(text)[-1]
            def starttls(self):
                r = self.last("STARTTLS")
                self.s = ctx.wrap_socket(self.s, server_hostname="localhost"); self.f = self.s.makefile("rb")
                return r, self.response()
        def lit(data, sync=False):
            b = data.encode()
            return "{%d%s}\r\n" % (len(b), "" if sync else "+") + data
        def plain(user="alice@example.org", password="secret"):
            return base64.b64encode(("\0" + user + "\0" + password).encode()).decode()
        """;

    private static async Task<string[]> PythonAsync(string body)
    {
        var run = await ExternalProcess.RunAsync("python3", ["-c", Prelude + "\n" + body], timeout: TimeSpan.FromSeconds(120));
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        return run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private string Local(string name, string text)
    {
        var path = Path.Combine(_data.Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>sieve-connect with one action; the password on stdin, STARTTLS required and the self-signed
    /// certificate accepted, PLAIN only after TLS (--noclearauth).</summary>
    private static Task<ExternalProcess.Result> SieveConnectAsync(HostProcess host, params string[] action) =>
        ExternalProcess.RunAsync("sieve-connect",
            ["--server", "127.0.0.1", "--port", host.ManageSievePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--nosrv", "--user", "alice@example.org",
             "--passwordfd", "0", "--notlsverify", "--noclearauth", "--authmech", "PLAIN", .. action],
            stdin: "secret\n", timeout: TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Sieve_connect_uploads_lists_activates_downloads_and_deletes_over_starttls_and_the_script_files_smtp_mail()
    {
        // No plaintext login even on loopback: sieve-connect can only have logged in after STARTTLS.
        await using var host = await HostProcess.StartAsync(_data.Path, "--ManageSieve:AllowPlaintextLoginOnLoopback=false");
        var rules = "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"invoice\" { fileinto :create \"Bills\"; }\n";
        async Task<string> Ok(params string[] action)
        {
            var run = await SieveConnectAsync(host, action);
            log.WriteLine($"sieve-connect {string.Join(' ', action)}: {run.ExitCode}\n{run.StdOut}{run.StdErr}");
            Assert.True(run.ExitCode == 0, $"sieve-connect {string.Join(' ', action)}: {run.StdOut}{run.StdErr}");
            return run.StdOut;
        }
        await Ok("--localsieve", Local("rules.sieve", rules), "--remotesieve", "rules", "--upload");
        await Ok("--localsieve", Local("other.sieve", "keep;\n"), "--remotesieve", "other", "--upload");
        await Ok("--remotesieve", "rules", "--activate");
        var listed = await Ok("--list");
        Assert.Equal("\"other\"\n\"rules\" ACTIVE", listed.Trim().Replace("\r", "", StringComparison.Ordinal));
        var downloaded = Path.Combine(_data.Path, "downloaded.sieve");
        await Ok("--localsieve", downloaded, "--remotesieve", "rules", "--download");
        Assert.Equal(rules, await File.ReadAllTextAsync(downloaded));
        // The store is the one `mail sieve` reads.
        Assert.Equal("other\nrules active", (await HostProcess.AdminOkAsync(_data.Path, "sieve", "list", "alice@example.org")).StdOut.Trim().Replace("\r", "", StringComparison.Ordinal));

        // A broken script is refused with its line, by CHECKSCRIPT and by PUTSCRIPT alike.
        var broken = Local("broken.sieve", "require \"fileinto\";\nfileinto \"x\"\niff true { keep; }\n");
        var check = await SieveConnectAsync(host, "--localsieve", broken, "--checkscript");
        Assert.NotEqual(0, check.ExitCode);
        Assert.Contains("line 2: error: missing semicolon", check.StdOut + check.StdErr, StringComparison.Ordinal);
        var put = await SieveConnectAsync(host, "--localsieve", broken, "--remotesieve", "broken", "--upload");
        Assert.NotEqual(0, put.ExitCode);
        Assert.Contains("line 2: error", put.StdOut + put.StdErr, StringComparison.Ordinal);

        // The active script runs at delivery.
        var sent = await ExternalProcess.RunAsync("python3", ["-c", $$"""
            import smtplib
            s = smtplib.SMTP("127.0.0.1", {{host.SmtpPort}})
            s.sendmail("bob@example.net", ["alice@example.org"], "From: bob@example.net\r\nTo: alice@example.org\r\nSubject: your invoice\r\n\r\nbody\r\n")
            s.sendmail("bob@example.net", ["alice@example.org"], "From: bob@example.net\r\nTo: alice@example.org\r\nSubject: hello\r\n\r\nbody\r\n")
            s.quit()
            """]);
        Assert.True(sent.ExitCode == 0, sent.StdErr);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        using (var imap = new MailKit.Net.Imap.ImapClient())
        {
            await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await imap.AuthenticateAsync("alice@example.org", "secret");
            async Task<string[]> Subjects(string name)
            {
                var folder = await imap.GetFolderAsync(name);
                await folder.OpenAsync(MailKit.FolderAccess.ReadOnly);
                var items = await folder.FetchAsync(0, -1, new MailKit.FetchRequest(MailKit.MessageSummaryItems.Envelope));
                await folder.CloseAsync();
                return [.. items.Select(i => i.Envelope?.Subject ?? "")];
            }
            Assert.Equal(["your invoice"], await Subjects("Bills"));
            Assert.Equal(["hello"], await Subjects("INBOX"));
        }

        // The active script cannot be deleted; once deactivated it can.
        var refused = await SieveConnectAsync(host, "--remotesieve", "rules", "--delete");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("(ACTIVE)", refused.StdOut + refused.StdErr, StringComparison.Ordinal);
        await Ok("--deactivate");
        await Ok("--remotesieve", "rules", "--delete");
        await Ok("--remotesieve", "other", "--delete");
        Assert.Equal("", (await HostProcess.AdminOkAsync(_data.Path, "sieve", "list", "alice@example.org")).StdOut.Trim());
    }

    [Fact]
    public async Task Raw_commands_get_rfc_5804_replies_and_response_codes_and_literals_keep_the_session_in_step()
    {
        await using var host = await HostProcess.StartAsync(_data.Path, "--ManageSieve:MaxScriptSize=2048", "--ManageSieve:MaxBadCommands=50");
        var lines = await PythonAsync($$"""
            r = Raw({{host.ManageSievePort}})
            print("greeting", " ".join(r.greeting))
            print("unknown", r.last("FROB"))
            print("noauth", r.last('PUTSCRIPT "x" ' + lit("keep;")))
            print("in-step", r.last("NOOP"))
            print("bad-quote", r.last('AUTHENTICATE "PLAIN'))
            print("mech", r.last('AUTHENTICATE "LOGIN"'))
            # AUTHENTICATE with the empty challenge and a literal answer.
            r.send('AUTHENTICATE "PLAIN"\r\n')
            print("challenge", r.line())
            print("auth", r.last(lit(plain())))
            print("again", r.last('AUTHENTICATE "PLAIN" "' + plain() + '"'))
            print("caps", " ".join(r.cmd("CAPABILITY")))
            print("havespace", r.last('HAVESPACE "a" 100'))
            print("havespace-big", r.last('HAVESPACE "a" 999999'))
            print("havespace-name", r.last('HAVESPACE "a/b" 10'))
            print("too-big", r.last('PUTSCRIPT "big" ' + lit("#" * 5000)))
            print("in-step-2", r.last("NOOP"))
            print("broken", r.last('PUTSCRIPT "bad" ' + lit('require "fileinto";\r\nfileinto "x"\r\niff true { keep; }\r\n')))
            print("check-bad", r.last('CHECKSCRIPT "iff true { keep; }"'))
            print("check-ok", r.last('CHECKSCRIPT "keep;"'))
            print("put-one", r.last('PUTSCRIPT "one" ' + lit('require "fileinto";\r\nfileinto "One";\r\n')))
            print("put-two-sync", r.last('PUTSCRIPT "two" ' + lit("discard;\r\n", sync=True)))
            print("put-quoted", r.last('PUTSCRIPT "three" "keep;"'))
            print("list", r.cmd("LISTSCRIPTS"))
            print("activate-none", r.last('SETACTIVE "nope"'))
            print("activate", r.last('SETACTIVE "one"'))
            print("list-active", r.cmd("LISTSCRIPTS"))
            print("delete-active", r.last('DELETESCRIPT "one"'))
            print("delete-none", r.last('DELETESCRIPT "nope"'))
            print("rename-taken", r.last('RENAMESCRIPT "one" "two"'))
            print("rename-none", r.last('RENAMESCRIPT "nope" "x"'))
            print("rename", r.last('RENAMESCRIPT "one" "uno"'))
            print("list-renamed", r.cmd("LISTSCRIPTS"))
            print("get", r.cmd('GETSCRIPT "uno"'))
            print("get-none", r.last('GETSCRIPT "one"'))
            print("deactivate", r.last('SETACTIVE ""'))
            print("delete", r.last('DELETESCRIPT "uno"'))
            print("noop-tag", r.last('NOOP "t1"'))
            print("args", r.last('GETSCRIPT'))
            print("unauth", r.last("UNAUTHENTICATE"))
            print("after-unauth", r.last("LISTSCRIPTS"))
            print("logout", r.last("LOGOUT"), r.line())
            h = Raw({{host.ManageSievePort}})
            print("huge", h.last('PUTSCRIPT "x" {99999999999+}'), h.line())
            """);
        var got = lines.ToDictionary(l => l.Split(' ', 2)[0], l => l.Split(' ', 2).ElementAtOrDefault(1) ?? "");
        log.WriteLine(string.Join('\n', lines));
        Assert.StartsWith("\"IMPLEMENTATION\" \"Mail.ManageSieve\" \"SIEVE\" \"fileinto reject", got["greeting"], StringComparison.Ordinal);
        Assert.Contains("\"SASL\" \"PLAIN\" \"STARTTLS\"", got["greeting"], StringComparison.Ordinal);
        Assert.Contains("\"MAXREDIRECTS\" \"4\"", got["greeting"], StringComparison.Ordinal);
        Assert.EndsWith("\"VERSION\" \"1.0\" OK \"localhost ManageSieve ready.\"", got["greeting"], StringComparison.Ordinal);
        Assert.Equal("NO \"Unknown command FROB.\"", got["unknown"]);
        Assert.Equal("NO \"PUTSCRIPT needs an authenticated session; AUTHENTICATE first.\"", got["noauth"]);
        Assert.Equal("OK \"NOOP completed.\"", got["in-step"]);
        Assert.Equal("NO \"Syntax error: unterminated quoted string.\"", got["bad-quote"]);
        Assert.Equal("NO \"Only the PLAIN mechanism is supported.\"", got["mech"]);
        Assert.Equal("\"\"", got["challenge"]);
        Assert.Equal("OK \"Logged in.\"", got["auth"]);
        Assert.Equal("NO \"Already authenticated.\"", got["again"]);
        Assert.Contains("\"OWNER\" \"alice@example.org\"", got["caps"], StringComparison.Ordinal);
        Assert.DoesNotContain("STARTTLS", got["caps"], StringComparison.Ordinal);
        Assert.Equal("OK \"Putscript would succeed.\"", got["havespace"]);
        Assert.Equal("NO (QUOTA/MAXSIZE) \"Script of 999999 octets is larger than 2048 octets (ManageSieve:MaxScriptSize).\"", got["havespace-big"]);
        Assert.StartsWith("NO \"Bad script name:", got["havespace-name"], StringComparison.Ordinal);
        Assert.Equal("NO (QUOTA/MAXSIZE) \"Script of 5000 octets is larger than 2048 octets (ManageSieve:MaxScriptSize).\"", got["too-big"]);
        Assert.Equal("OK \"NOOP completed.\"", got["in-step-2"]);
        Assert.Equal("NO \"line 2: error: missing semicolon ';' after fileinto command\"", got["broken"]);
        Assert.StartsWith("NO \"line 1: error:", got["check-bad"], StringComparison.Ordinal);
        Assert.Equal("OK \"Script is valid.\"", got["check-ok"]);
        Assert.Equal("OK \"PUTSCRIPT completed.\"", got["put-one"]);
        Assert.Equal("OK \"PUTSCRIPT completed.\"", got["put-two-sync"]);
        Assert.Equal("OK \"PUTSCRIPT completed.\"", got["put-quoted"]);
        Assert.Equal("['\"one\"', '\"three\"', '\"two\"', 'OK \"Listscripts completed.\"']", got["list"]);
        Assert.Equal("NO (NONEXISTENT) \"There is no script 'nope'.\"", got["activate-none"]);
        Assert.Equal("OK \"Setactive completed.\"", got["activate"]);
        Assert.Contains("'\"one\" ACTIVE'", got["list-active"], StringComparison.Ordinal);
        Assert.Equal("NO (ACTIVE) \"Script 'one' is active; SETACTIVE \\\"\\\" first.\"", got["delete-active"]);
        Assert.StartsWith("NO (NONEXISTENT)", got["delete-none"], StringComparison.Ordinal);
        Assert.StartsWith("NO (ALREADYEXISTS)", got["rename-taken"], StringComparison.Ordinal);
        Assert.StartsWith("NO (NONEXISTENT)", got["rename-none"], StringComparison.Ordinal);
        Assert.Equal("OK \"Renamescript completed.\"", got["rename"]);
        Assert.Contains("'\"uno\" ACTIVE'", got["list-renamed"], StringComparison.Ordinal);
        Assert.DoesNotContain("'\"one\"", got["list-renamed"], StringComparison.Ordinal);
        Assert.Equal("['[require \"fileinto\";|fileinto \"One\";|]', 'OK \"Getscript completed.\"']", got["get"]);
        Assert.StartsWith("NO (NONEXISTENT)", got["get-none"], StringComparison.Ordinal);
        Assert.Equal("OK \"Script deactivated.\"", got["deactivate"]);
        Assert.Equal("OK \"Deletescript completed.\"", got["delete"]);
        Assert.Equal("OK (TAG \"t1\") \"Done.\"", got["noop-tag"]);
        Assert.Equal("NO \"Syntax: GETSCRIPT name\"", got["args"]);
        Assert.Equal("OK \"Unauthenticate completed.\"", got["unauth"]);
        Assert.StartsWith("NO \"LISTSCRIPTS needs an authenticated session", got["after-unauth"], StringComparison.Ordinal);
        Assert.Equal("OK \"Logout completed.\" <closed>", got["logout"]);
        Assert.Equal("BYE \"Literal of 99999999999 octets is far too large; closing the connection.\" <closed>", got["huge"]);
        Assert.DoesNotContain("Exception", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_login_needs_starttls_wrong_passwords_are_throttled_and_bad_or_idle_sessions_get_bye()
    {
        await using var host = await HostProcess.StartAsync(_data.Path, "--Imap:AllowPlaintextLoginOnLoopback=false", "--Imap:MaxFailedLogins=2",
            "--ManageSieve:FailedLoginDelay=00:00:00", "--ManageSieve:MaxBadCommands=3", "--ManageSieve:IdleTimeout=00:00:02");
        var lines = await PythonAsync($$"""
            r = Raw({{host.ManageSievePort}})
            print("greeting", " ".join(r.greeting))
            print("plain", r.last('AUTHENTICATE "PLAIN" "' + plain() + '"'))
            ok, caps = r.starttls()
            print("starttls", ok, "|", " ".join(caps))
            print("wrong1", r.last('AUTHENTICATE "PLAIN" "' + plain(password="nope") + '"'))
            r.send('AUTHENTICATE "PLAIN"\r\n'); r.line()
            print("cancel", r.last('"*"'))
            print("wrong2", r.last('AUTHENTICATE "PLAIN" "' + plain(password="nope") + '"'))
            print("throttled", r.last('AUTHENTICATE "PLAIN" "' + plain() + '"'))
            b = Raw({{host.ManageSievePort}})
            print("bad1", b.last("FOO"))
            print("bad2", b.last("BAR"))
            print("bad3", b.cmd("BAZ"), b.line())
            i = Raw({{host.ManageSievePort}})
            print("idle", i.line(), i.line())
            """);
        var got = lines.ToDictionary(l => l.Split(' ', 2)[0], l => l.Split(' ', 2).ElementAtOrDefault(1) ?? "");
        log.WriteLine(string.Join('\n', lines));
        Assert.Contains("\"SASL\" \"\" \"STARTTLS\"", got["greeting"], StringComparison.Ordinal);
        Assert.Equal("NO (ENCRYPT-NEEDED) \"Plaintext authentication is not allowed without TLS; use STARTTLS first.\"", got["plain"]);
        Assert.StartsWith("OK \"Begin TLS negotiation now.\" | \"IMPLEMENTATION\"", got["starttls"], StringComparison.Ordinal);
        Assert.Contains("\"SASL\" \"PLAIN\"", got["starttls"], StringComparison.Ordinal);
        Assert.DoesNotContain("\"STARTTLS\"", got["starttls"], StringComparison.Ordinal);
        Assert.EndsWith("OK \"TLS negotiation successful.\"", got["starttls"], StringComparison.Ordinal);
        Assert.Equal("NO \"Authentication failed.\"", got["wrong1"]);
        Assert.Equal("NO \"Authentication cancelled.\"", got["cancel"]);
        Assert.Equal("NO \"Authentication failed.\"", got["wrong2"]);
        Assert.Equal("NO (TRYLATER) \"Too many failed logins; try again later.\"", got["throttled"]);
        Assert.Equal("NO \"Unknown command FOO.\"", got["bad1"]);
        Assert.Equal("['NO \"Unknown command BAZ.\"'] BYE \"Too many invalid commands.\"", got["bad3"]);
        Assert.Equal("BYE \"Disconnected for inactivity.\" <closed>", got["idle"]);
    }
}
