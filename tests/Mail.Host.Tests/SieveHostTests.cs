using Mail.Testing;
using Mail.Testing.Dns;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// Sieve at delivery in the real `mail serve`: scripts put with `mail sieve`, mail sent with Python's smtplib, the
/// result read over IMAP with MailKit; vacation replies leave through MX routing (a loopback DNS server) to a
/// scripted peer.
/// </summary>
[Collection("host")]
public sealed class SieveHostTests(ITestOutputHelper log) : IAsyncLifetime
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

    private string Script(string name, string text)
    {
        var path = System.IO.Path.Combine(_data.Path, name + ".sieve");
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Sends each message (reverse-path, recipient, header lines) in its own transaction; prints DATA's code.</summary>
    private static async Task SendAsync(int port, params (string From, string To, string Headers)[] messages)
    {
        var calls = string.Join("\n", messages.Select(m =>
            $"send(\"{m.From}\", \"{m.To}\", \"{m.Headers.Replace("\n", "\\r\\n", StringComparison.Ordinal)}\\r\\n\")"));
        var script = $$"""
            import smtplib
            def send(frm, to, headers):
                s = smtplib.SMTP("127.0.0.1", {{port}})
                s.ehlo("client.example.net")
                s.sendmail(frm, [to], (headers + "\r\nbody text\r\n").encode())
                s.quit()
            {{calls}}
            """;
        var run = await ExternalProcess.RunAsync("python3", ["-c", script]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
    }

    [Fact]
    public async Task The_cli_refuses_a_broken_script_with_its_line_and_keeps_several_with_one_active()
    {
        var broken = await HostProcess.AdminAsync(_data.Path, "sieve", "put", "alice@example.org", "bad", Script("bad", "require \"fileinto\";\nfileinto \"x\"\niff true { keep; }\n"));
        Assert.Equal(65, broken.ExitCode);
        Assert.Equal("mail: bad: line 2: error: missing semicolon ';' after fileinto command", broken.StdErr.Trim().Split('\n')[0]);
        Assert.Equal(65, (await HostProcess.AdminAsync(_data.Path, "sieve", "put", "nobody@example.org", "a", Script("a", "keep;"))).ExitCode);

        await HostProcess.AdminOkAsync(_data.Path, "sieve", "put", "alice@example.org", "one", Script("one", "keep;\n"));
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "put", "alice@example.org", "two", Script("two", "discard;\n"));
        Assert.Equal("one\ntwo", (await HostProcess.AdminOkAsync(_data.Path, "sieve", "list", "alice@example.org")).StdOut.Trim());
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "activate", "alice@example.org", "two");
        Assert.Equal("one\ntwo active", (await HostProcess.AdminOkAsync(_data.Path, "sieve", "list", "alice@example.org")).StdOut.Trim());
        Assert.Equal("discard;\n", (await HostProcess.AdminOkAsync(_data.Path, "sieve", "get", "alice@example.org", "two")).StdOut);
        var active = await HostProcess.AdminAsync(_data.Path, "sieve", "remove", "alice@example.org", "two");
        Assert.Equal(65, active.ExitCode);
        Assert.Contains("is active; deactivate it first", active.StdErr, StringComparison.Ordinal);
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "deactivate", "alice@example.org");
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "remove", "alice@example.org", "two");
        Assert.Equal("one", (await HostProcess.AdminOkAsync(_data.Path, "sieve", "list", "alice@example.org")).StdOut.Trim());
    }

    [Fact]
    public async Task A_script_activated_by_the_cli_filters_the_next_message_of_a_running_server_despite_its_directory_cache()
    {
        // An hour of directory cache: the server read "no active script" for the first message and keeps that answer;
        // only the CLI's word (its control socket) can make the script filter the second.
        await using var host = await HostProcess.StartAsync(_data.Path, "--State:DirectoryCacheTtl=01:00:00");
        await SendAsync(host.SmtpPort, ("bob@example.net", "alice@example.org", "From: bob@example.net\nTo: alice@example.org\nSubject: before"));
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "put", "alice@example.org", "rules", Script("rules", "require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Filed\";\n"));
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "activate", "alice@example.org", "rules");
        await SendAsync(host.SmtpPort, ("bob@example.net", "alice@example.org", "From: bob@example.net\nTo: alice@example.org\nSubject: after"));
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));

        var list = (await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "alice@example.org")).StdOut;
        var filed = (await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "alice@example.org", "--mailbox", "Filed")).StdOut;
        Assert.Contains("before", list, StringComparison.Ordinal);
        Assert.DoesNotContain("after", list, StringComparison.Ordinal);
        Assert.Contains("after", filed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fileinto_create_with_flags_the_spam_verdict_and_a_failing_script_keep_in_INBOX()
    {
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "put", "alice@example.org", "rules", Script("rules", """
            require ["fileinto", "mailbox", "imap4flags", "variables", "subaddress", "envelope"];
            if header :contains "subject" "report" { fileinto :create :flags "\\Flagged" "Reports"; }
            elsif envelope :detail "to" "lists" { fileinto :create "Lists"; }
            elsif header :contains "subject" "explode" { set "to" "not an address"; redirect "${to}"; }
            elsif not header :contains "X-Spam-Status" "No" { fileinto "Unjudged"; }
            """));
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "activate", "alice@example.org", "rules");

        // Spam scoring on: every message gets X-Spam-Status, which the script reads.
        await using var host = await HostProcess.StartAsync(_data.Path, "--Defences:SpamScore:JunkThreshold=5");
        await SendAsync(host.SmtpPort,
            ("bob@example.net", "alice@example.org", "From: bob@example.net\nTo: alice@example.org\nSubject: quarterly report"),
            ("bob@example.net", "alice+lists@example.org", "From: bob@example.net\nTo: alice+lists@example.org\nSubject: digest"),
            ("bob@example.net", "alice@example.org", "From: bob@example.net\nTo: alice@example.org\nSubject: explode now"),
            ("bob@example.net", "alice@example.org", "From: bob@example.net\nTo: alice@example.org\nSubject: plain hello"));
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));

        using var imap = new MailKit.Net.Imap.ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        async Task<List<(string Subject, MailKit.MessageFlags Flags)>> Read(string name)
        {
            var folder = await imap.GetFolderAsync(name);
            await folder.OpenAsync(MailKit.FolderAccess.ReadOnly);
            var items = await folder.FetchAsync(0, -1, new MailKit.FetchRequest(MailKit.MessageSummaryItems.Envelope | MailKit.MessageSummaryItems.Flags));
            await folder.CloseAsync();
            return [.. items.Select(i => (i.Envelope?.Subject ?? "", i.Flags ?? MailKit.MessageFlags.None))];
        }
        var reports = await Read("Reports");
        Assert.Equal("quarterly report", Assert.Single(reports).Subject);
        Assert.True(reports[0].Flags.HasFlag(MailKit.MessageFlags.Flagged));
        Assert.Equal("digest", Assert.Single(await Read("Lists")).Subject);
        // The script failed at run time (a bad redirect address): INBOX, and one log line naming the user and the error.
        Assert.Equal(["explode now", "plain hello"], (await Read("INBOX")).Select(m => m.Subject).Order(StringComparer.Ordinal));
        log.WriteLine(host.Output);
        Assert.Contains("sieve script rules of alice@example.org failed: line 4: runtime error: redirect: invalid address 'not an address'; delivered to INBOX", host.Output, StringComparison.Ordinal);
        // The script saw our X-Spam-Status on every message, so none went to "Unjudged".
        Assert.DoesNotContain("Unjudged", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Vacation_answers_once_per_sender_and_never_a_list_or_the_null_sender()
    {
        await using var dns = await TestDnsServer.StartAsync();
        await using var peer = new ScriptedSmtpPeer();
        dns.AddMx("example.com", 10, "mx.example.com");
        dns.Add("mx.example.com", DnsRecordType.A, "127.0.0.1");
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "put", "alice@example.org", "away", Script("away", """
            require "vacation";
            vacation :days 2 :subject "Away" "I am away until Monday.";
            """));
        await HostProcess.AdminOkAsync(_data.Path, "sieve", "activate", "alice@example.org", "away");
        await using var host = await HostProcess.StartAsync(_data.Path, "--Smtp:HostName=mail.example.org", $"--Dns:NameServers:0={dns.EndPoint}", "--Dns:Retries=1",
            $"--Outbound:RemotePort={peer.Port}", "--Outbound:MinimalBackoff=00:05:00", "--Outbound:PollInterval=00:00:00.050");

        await SendAsync(host.SmtpPort,
            ("dave@example.com", "alice@example.org", "From: dave@example.com\nTo: alice@example.org\nSubject: first\nMessage-ID: <first@example.com>"),
            ("dave@example.com", "alice@example.org", "From: dave@example.com\nTo: alice@example.org\nSubject: second\nMessage-ID: <second@example.com>"),
            ("list-bounces@example.com", "alice@example.org", "From: news@example.com\nTo: alice@example.org\nSubject: news\nList-Id: <news.example.com>"),
            ("", "alice@example.org", "From: MAILER-DAEMON@example.com\nTo: alice@example.org\nSubject: bounce"),
            ("erin@example.com", "alice@example.org", "From: erin@example.com\nTo: alice@example.org\nSubject: bulk\nPrecedence: bulk"));
        var replies = await HostProcess.PollAsync(() => Task.FromResult(string.Join("\n----\n", peer.Received.Select(r => string.Join(",", r.Recipients) + "\n" + r.Data))),
            d => d.Contains("Away", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "no vacation reply reached the peer");
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        log.WriteLine(replies);
        var reply = Assert.Single(peer.Received);
        Assert.Equal(["dave@example.com"], reply.Recipients);
        Assert.Contains("MAIL FROM:<>", peer.Commands);
        Assert.Contains("Auto-Submitted: auto-replied", reply.Data, StringComparison.Ordinal);
        // The queue worker may take either of dave's two messages first: the reply answers that one.
        Assert.Matches("In-Reply-To: <(first|second)@example.com>", reply.Data);
        Assert.Contains("I am away until Monday.", reply.Data, StringComparison.Ordinal);
        Assert.Contains("was answered within 2 day(s)", host.Output, StringComparison.Ordinal);
        Assert.Contains("no reply to <list-bounces@example.com> (a mailing list message)", host.Output, StringComparison.Ordinal);
        Assert.Contains("no reply to <> (the null sender)", host.Output, StringComparison.Ordinal);
        Assert.Contains("no reply to <erin@example.com> (bulk mail (Precedence))", host.Output, StringComparison.Ordinal);
    }
}
