using Mail.Testing;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// `mail import postfix` against a main.cf written for Postfix 3.7 (restrictions, a hash: access map, a regexp
/// header_checks table, virtual domains and aliases) and a Dovecot passwd-file made by `doveadm pw`: the real Postfix
/// runs on the same main.cf beside the imported `mail serve`, and the same SMTP sessions (Python's smtplib, each from
/// its own loopback address) must get the same reply codes and enhanced codes from both; the users log in over IMAP
/// (MailKit) with their old passwords, and an alias delivers.
/// </summary>
[Collection("host")]
public sealed class PostfixImportHostTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempData _dir = new();

    private string Conf => Path.Combine(_dir.Path, "pf");
    private string Data => Path.Combine(_dir.Path, "data");
    private string Users => Path.Combine(_dir.Path, "dovecot-users");

    public void Dispose() => _dir.Dispose();

    /// <summary>main.cf (Postfix's runtime lines, then the policy), its tables (postmap'ed for Postfix) and the passwd-file.</summary>
    private async Task WriteConfigAsync(string extraMainCf = "")
    {
        Directory.CreateDirectory(Conf);
        var root = Path.Combine(_dir.Path, "pfroot");
        await File.WriteAllTextAsync(Path.Combine(Conf, "main.cf"), PostfixInstance.RuntimeParameters(root) + $$"""
            # The policy, as a Postfix 3.7 site writes it.
            myhostname = mx.example.org
            mydomain = example.org
            myorigin = $mydomain
            mydestination = localhost
            mynetworks = 127.0.0.1/32
            recipient_delimiter = +
            message_size_limit = 20480000
            virtual_mailbox_domains = $mydomain
            virtual_mailbox_maps = hash:{{Conf}}/vmailbox
            virtual_alias_maps = hash:{{Conf}}/virtual
            virtual_transport = discard:
            smtpd_helo_required = yes
            smtpd_relay_restrictions = permit_mynetworks,
                permit_sasl_authenticated,
                reject_unauth_destination
            # known senders first, then the unknown domains
            smtpd_sender_restrictions = reject_non_fqdn_sender,
                check_sender_access hash:${config_directory}/sender_access,
                reject_unknown_sender_domain
            smtpd_recipient_restrictions = check_client_access hash:{{Conf}}/client_access,
                reject_unknown_recipient_domain, reject_unlisted_recipient,
                check_sender_mx_access hash:{{Conf}}/mx_access
            header_checks = regexp:{{Conf}}/header_checks
            config_directory = {{Conf}}
            {{extraMainCf}}
            """);
        await File.WriteAllTextAsync(Path.Combine(Conf, "sender_access"), "spammer@bad.example  REJECT go away\nclient.test  OK\n");
        await File.WriteAllTextAsync(Path.Combine(Conf, "client_access"), "# a client we refuse\n127.0.0.2 REJECT\n");
        await File.WriteAllTextAsync(Path.Combine(Conf, "mx_access"), "192.0.2.1 REJECT\n");
        await File.WriteAllTextAsync(Path.Combine(Conf, "vmailbox"), "alice@example.org x\nbob@example.org x\ncarol@example.org x\nnopass@example.org x\n");
        await File.WriteAllTextAsync(Path.Combine(Conf, "virtual"), "team@example.org  alice@example.org,\n  bob@example.org\n@example.org  bob\npostmaster  root\n");
        await File.WriteAllTextAsync(Path.Combine(Conf, "header_checks"), "/^Subject:.*viagra/  REJECT spam subject\n");
        foreach (var table in new[] { "sender_access", "client_access", "mx_access", "vmailbox", "virtual" })
            await PostfixInstance.PostmapAsync(Path.Combine(Conf, table));
        await File.WriteAllTextAsync(Users, $$"""
            # Dovecot passwd-file: user:password:uid:gid:gecos:home:shell:extra_fields
            alice@example.org:{{await DoveadmAsync("SHA512-CRYPT", "alice-old-pw")}}:5000:5000::/var/vmail/alice::userdb_quota_rule=*:storage=1G
            bob@example.org:{{await DoveadmAsync("SHA256-CRYPT", "bob-old-pw")}}:5000:5000::/var/vmail/bob::
            carol@example.org:{PLAIN}carol-old-pw:5000:5000::/var/vmail/carol::
            dave@example.org:{CRAM-MD5}1f2e3d:5000:5000::/var/vmail/dave::

            """);
    }

    private static async Task<string> DoveadmAsync(string scheme, string password)
    {
        var r = await ExternalProcess.RunAsync("doveadm", ["pw", "-s", scheme, "-p", password]);
        Assert.True(r.ExitCode == 0, "doveadm pw (Debian package dovecot-core): " + r.StdErr);
        return r.StdOut.Trim();
    }

    private Task<ExternalProcess.Result> ImportAsync(params string[] extra) =>
        HostProcess.AdminAsync(Data, ["import", "postfix", "--config-dir", Conf, "--dovecot-users", Users, .. extra]);

    /// <summary>The sessions both servers get: each "name STEP CODE ENHANCED text" line, from smtplib.</summary>
    private static async Task<string[]> SessionsAsync(int port, string subject)
    {
        var script = $$"""
            import smtplib
            def run(name, src, mail_from, rcpts, body=None):
                s = smtplib.SMTP(source_address=(src, 0))
                s.connect("127.0.0.1", {{port}})
                s.ehlo("client.example.net")
                out = []
                code, text = s.docmd("MAIL FROM:<%s>" % mail_from)
                out.append("%s MAIL %d %s" % (name, code, text.decode()))
                accepted = 0
                for r in rcpts:
                    code, text = s.docmd("RCPT TO:<%s>" % r)
                    out.append("%s RCPT %d %s" % (name, code, text.decode()))
                    accepted += code == 250
                if accepted and body is not None:
                    code, text = s.docmd("DATA")
                    if code == 354:
                        s.send(body.replace("\n", "\r\n").encode() + b"\r\n.\r\n")
                        code, text = s.getreply()
                    out.append("%s DATA %d %s" % (name, code, text.decode()))
                s.quit()
                print("\n".join(out))
            run("header_checks", "127.0.0.1", "sender@client.test", ["alice@example.org"], "Subject: buy viagra now\n\nhi")
            run("access_map", "127.0.0.3", "spammer@bad.example", ["alice@example.org"])
            run("relay", "127.0.0.3", "sender@client.test", ["someone@elsewhere.example"])
            run("unknown_sender_domain", "127.0.0.3", "x@nosuch.invalid", ["alice@example.org"])
            run("client_access", "127.0.0.2", "sender@client.test", ["alice@example.org"])
            run("non_fqdn_sender", "127.0.0.3", "joe@localhost", ["alice@example.org"])
            run("alias", "127.0.0.3", "sender@client.test", ["team@example.org", "whoever@example.org"], "From: sender@client.test\nSubject: {{subject}}\n\nhi")
            """;
        var run = await ExternalProcess.RunAsync("python3", ["-c", script]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        return run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>"name STEP CODE ENHANCED": what is compared (the text after it names queue ids and hosts).</summary>
    private static string[] Codes(string[] replies) =>
        replies.Select(r => string.Join(' ', r.Split(' ').Take(4))).ToArray();

    [Fact]
    public async Task After_import_the_same_sessions_get_the_same_replies_as_from_Postfix_and_users_log_in_with_their_old_passwords()
    {
        await WriteConfigAsync();
        var import = await ImportAsync();
        log.WriteLine(import.StdOut + import.StdErr);
        Assert.Equal(0, import.ExitCode);

        string[] postfixReplies;
        await using (var postfix = await PostfixInstance.StartAsync(Conf, Path.Combine(_dir.Path, "pfroot")))
            postfixReplies = await SessionsAsync(postfix.Port, "alias via postfix");
        log.WriteLine("Postfix:\n" + string.Join('\n', postfixReplies));

        await using var host = await HostProcess.StartAsync(Data);
        var subject = "alias " + Guid.NewGuid().ToString("N")[..8];
        var ours = await SessionsAsync(host.SmtpPort, subject);
        log.WriteLine("mail:\n" + string.Join('\n', ours));

        Assert.Equal(Codes(postfixReplies), Codes(ours));
        // The sessions test what they are named for (Postfix and we could agree on something else).
        Assert.Contains("header_checks DATA 550 5.7.1", Codes(ours));
        Assert.Contains("access_map RCPT 554 5.7.1", Codes(ours));
        Assert.Contains("relay RCPT 554 5.7.1", Codes(ours));
        Assert.Contains("unknown_sender_domain RCPT 450 4.1.8", Codes(ours));
        Assert.Contains("client_access RCPT 554 5.7.1", Codes(ours));
        Assert.Contains("alias DATA 250 2.0.0", Codes(ours));

        // The passwords of the passwd-file: SHA512-CRYPT, SHA256-CRYPT and PLAIN.
        foreach (var (user, password) in new[] { ("alice@example.org", "alice-old-pw"), ("bob@example.org", "bob-old-pw"), ("carol@example.org", "carol-old-pw") })
        {
            using var imap = new MailKit.Net.Imap.ImapClient();
            await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await imap.AuthenticateAsync(user, password);
            Assert.True(imap.IsAuthenticated, user);
        }
        using (var wrong = new MailKit.Net.Imap.ImapClient())
        {
            await wrong.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await Assert.ThrowsAsync<MailKit.Security.AuthenticationException>(() => wrong.AuthenticateAsync("alice@example.org", "not-her-password"));
        }

        // team@ -> alice, bob; whoever@ -> the catch-all -> bob: alice one copy, bob one copy (duplicates collapse).
        await HostProcess.WaitForEmptyQueueAsync(Data, TimeSpan.FromSeconds(30));
        foreach (var (user, password) in new[] { ("alice@example.org", "alice-old-pw"), ("bob@example.org", "bob-old-pw") })
        {
            using var imap = new MailKit.Net.Imap.ImapClient();
            await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await imap.AuthenticateAsync(user, password);
            await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
            Assert.Single(await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.SubjectContains(subject)));
        }
    }

    [Fact]
    public async Task Every_unmapped_parameter_is_listed_with_its_reason_and_a_second_import_changes_nothing()
    {
        // A table whose text source is gone (only the .db postmap made is left).
        await WriteConfigAsync($"smtpd_helo_restrictions = check_helo_access hash:{Path.Combine(_dir.Path, "pf", "helo_access")}\nin_flow_delay = 2s");
        await File.WriteAllTextAsync(Path.Combine(Conf, "helo_access"), "bad.example REJECT\n");
        await PostfixInstance.PostmapAsync(Path.Combine(Conf, "helo_access"));
        File.Delete(Path.Combine(Conf, "helo_access"));

        var dry = await ImportAsync("--dry-run");
        Assert.True(dry.ExitCode == 0, dry.StdOut + dry.StdErr);
        Assert.Contains("dry run: nothing written", dry.StdOut, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Data, "settings.json")));
        Assert.Equal("", (await HostProcess.AdminOkAsync(Data, "user", "list")).StdOut.Trim());

        var first = await ImportAsync();
        log.WriteLine(first.StdOut + first.StdErr);
        Assert.True(first.ExitCode == 0, first.StdOut + first.StdErr);
        var notMapped = first.StdOut.Split('\n').Where(l => l.StartsWith("not mapped: ", StringComparison.Ordinal)).ToList();
        void Listed(string start, string why) =>
            Assert.True(notMapped.Any(l => l.StartsWith("not mapped: " + start, StringComparison.Ordinal) && l.Contains(why, StringComparison.Ordinal)),
                $"no 'not mapped: {start}...{why}' line in:\n{string.Join('\n', notMapped)}");
        Listed("smtpd_helo_required = yes", "not supported");
        Listed("smtpd_recipient_restrictions = reject_unlisted_recipient", "refuses unknown recipients");
        Listed("smtpd_recipient_restrictions = check_sender_mx_access hash:", "MX, NS and A record access checks are not supported");
        Listed("smtpd_helo_restrictions = hash:", "helo_access.db exists: the text source");
        Listed("virtual_transport = discard:", "delivery is built in");
        Listed("queue_directory = ", "Postfix's own installation");
        Listed("virtual_alias_maps = postmaster root", "bare local part");
        Listed("virtual_mailbox_maps = nopass@example.org", "no user of that name in the Dovecot passwd-file");
        Listed("dovecot-users line 5 = dave@example.org {CRAM-MD5}", "not imported");
        // Mapped ones are not listed.
        Assert.DoesNotContain(notMapped, l => l.StartsWith("not mapped: smtpd_sender_restrictions", StringComparison.Ordinal));
        Assert.DoesNotContain(notMapped, l => l.StartsWith("not mapped: header_checks", StringComparison.Ordinal));
        Assert.DoesNotContain(notMapped, l => l.StartsWith("not mapped: in_flow_delay", StringComparison.Ordinal));

        async Task<string> StateAsync() => string.Join("\n---\n",
            await File.ReadAllTextAsync(Path.Combine(Data, "settings.json")),
            (await HostProcess.AdminOkAsync(Data, "domain", "list")).StdOut,
            (await HostProcess.AdminOkAsync(Data, "user", "list")).StdOut,
            (await HostProcess.AdminOkAsync(Data, "alias", "list")).StdOut,
            string.Join('\n', Directory.GetFiles(Path.Combine(Data, "postfix")).Order().Select(f => f + ": " + File.ReadAllText(f))));
        var once = await StateAsync();
        Assert.Contains("alice@example.org  quota 1G", once, StringComparison.Ordinal);
        Assert.Contains("team@example.org -> alice@example.org, bob@example.org", once, StringComparison.Ordinal);
        Assert.Contains("\"InFlowDelay\": \"00:00:02\"", once, StringComparison.Ordinal);
        Assert.Contains("\"smtpd_sender_restrictions\": \"reject_non_fqdn_sender, check_sender_access hash:" + Path.Combine(Data, "postfix", "sender_access") + ", reject_unknown_sender_domain\"", once, StringComparison.Ordinal);
        var second = await ImportAsync();
        Assert.True(second.ExitCode == 0, second.StdOut + second.StdErr);
        Assert.Equal(once, await StateAsync());
    }

    [Fact]
    public async Task A_broken_settings_json_in_the_data_directory_is_one_line_naming_the_file()
    {
        Directory.CreateDirectory(Data);
        await File.WriteAllTextAsync(Path.Combine(Data, "settings.json"), "{ \"Smtp\": { ");
        var r = await HostProcess.AdminAsync(Data, "domain", "list");
        Assert.Equal(78, r.ExitCode);
        var line = Assert.Single(r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"mail: configuration error: {Path.Combine(Data, "settings.json")} is not valid JSON (", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_main_cf_is_one_line_naming_it()
    {
        Directory.CreateDirectory(Conf);
        var r = await HostProcess.AdminAsync(Data, "import", "postfix", "--config-dir", Conf);
        Assert.Equal(65, r.ExitCode);
        Assert.Equal($"mail: import postfix: {Path.Combine(Conf, "main.cf")} does not exist (--config-dir names the directory of main.cf)", r.StdErr.Trim());
    }
}
