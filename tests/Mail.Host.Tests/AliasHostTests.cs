using Mail.Testing;
using Mail.Testing.Dns;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// Aliases (virtual_alias_maps) and forwarding with SRS (postsrsd) in the real `mail serve`: aliases made with
/// `mail alias add`, mail sent with Python's smtplib, read over IMAP with MailKit; forwarded mail leaves through MX
/// routing found by a loopback DNS server to a scripted peer, and pyspf checks the SRS sender against that DNS.
/// </summary>
[Collection("host")]
public sealed class AliasHostTests(ITestOutputHelper log) : IAsyncLifetime
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

    /// <summary>One SMTP transaction from Python's smtplib: each RCPT's reply, then DATA's code when any was accepted.</summary>
    private static async Task<string[]> SendAsync(int port, string from, string subject, params string[] recipients)
    {
        var script = $$"""
            import smtplib
            s = smtplib.SMTP("127.0.0.1", {{port}})
            s.ehlo("client.example.net")
            s.docmd("MAIL FROM:<{{from}}>")
            out, accepted = [], 0
            for r in {{"[" + string.Join(", ", recipients.Select(r => "\"" + r + "\"")) + "]"}}:
                code, text = s.docmd("RCPT TO:<" + r + ">")
                out.append(f"{r} {code} {text.decode()}")
                accepted += code == 250
            if accepted:
                code, text = s.data(b"From: sender@example.net\r\nTo: list\r\nSubject: {{subject}}\r\n\r\nhi\r\n")
                out.append(f"DATA {code}")
            s.quit()
            print("\n".join(out))
            """;
        var run = await ExternalProcess.RunAsync("python3", ["-c", script]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        return run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static async Task<int> CountAsync(HostProcess host, string user, string subject)
    {
        using var imap = new MailKit.Net.Imap.ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
        await imap.AuthenticateAsync(user, "secret");
        await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        return (await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.SubjectContains(subject))).Count;
    }

    [Fact]
    public async Task Aliases_and_the_catch_all_deliver_one_copy_per_user_and_a_loop_is_refused_at_rcpt()
    {
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "team@example.org", "alice@example.org", "Sales@Example.org");
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "sales@example.org", "bob@example.org", "alice@example.org");
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "@example.org", "bob@example.org");
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "loop1@example.org", "loop2@example.org");
        var closing = await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "loop2@example.org", "loop1@example.org");
        Assert.Contains("alias loop", closing.StdErr, StringComparison.Ordinal);
        var list = (await HostProcess.AdminOkAsync(_data.Path, "alias", "list", "example.org")).StdOut;
        Assert.Contains("sales@example.org -> bob@example.org, alice@example.org", list, StringComparison.Ordinal);
        Assert.Contains("@example.org -> bob@example.org", list, StringComparison.Ordinal);

        await using var host = await HostProcess.StartAsync(_data.Path);
        var subject = "alias " + Guid.NewGuid().ToString("N")[..8];
        var replies = await SendAsync(host.SmtpPort, "sender@example.net", subject, "team@example.org", "whoever@example.org", "loop1@example.org", "alice@example.org");
        log.WriteLine(string.Join('\n', replies));
        Assert.Equal([
            "team@example.org 250 2.1.5 Ok",
            "whoever@example.org 250 2.1.5 Ok",
            "loop1@example.org 550 5.4.6 <loop1@example.org>: Recipient address rejected: Alias loop",
            "alice@example.org 250 2.1.5 Ok",
            "DATA 250"], replies);
        Assert.Contains("alias loop: loop1@example.org -> loop2@example.org -> loop1@example.org", host.Output, StringComparison.Ordinal);

        // team -> alice, sales -> bob, alice; the catch-all -> bob; alice herself: one copy each.
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        Assert.Equal(1, await CountAsync(host, "alice@example.org", subject));
        Assert.Equal(1, await CountAsync(host, "bob@example.org", subject));

        await HostProcess.AdminOkAsync(_data.Path, "alias", "remove", "@example.org");
        var after = (await HostProcess.AdminOkAsync(_data.Path, "alias", "list")).StdOut.Split('\n');
        Assert.DoesNotContain(after, l => l.StartsWith("@example.org", StringComparison.Ordinal));
        Assert.Contains(after, l => l.StartsWith("team@example.org -> alice@example.org, sales@example.org", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_remote_target_receives_from_an_SRS_sender_that_passes_SPF_and_a_bounce_to_it_reaches_the_original_sender()
    {
        await using var peer = new ScriptedSmtpPeer();
        foreach (var domain in new[] { "example.net", "example.com" })
        {
            _dns.AddMx(domain, 10, "mx." + domain);
            _dns.Add("mx." + domain, DnsRecordType.A, "127.0.0.1");
        }
        _dns.Add("example.org", DnsRecordType.TXT, "v=spf1 ip4:127.0.0.1 -all");
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "fwd@example.org", "carol@example.net", "alice@example.org");
        await using var host = await HostProcess.StartAsync(_data.Path, "--Smtp:HostName=mail.example.org", $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1",
            $"--Outbound:RemotePort={peer.Port}", "--Outbound:MinimalBackoff=00:05:00", "--Outbound:PollInterval=00:00:00.050");

        var subject = "forward " + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(["fwd@example.org 250 2.1.5 Ok", "DATA 250"], await SendAsync(host.SmtpPort, "dave@example.com", subject, "fwd@example.org"));
        var forwarded = (await HostProcess.PollAsync(() => Task.FromResult(string.Join("\n", peer.Received.Select(r => string.Join(",", r.Recipients) + "|" + r.Data))),
            d => d.Contains(subject, StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the remote target never received the forwarded message")).Split('|')[0];
        Assert.Equal("carol@example.net", forwarded);
        var mailFrom = peer.Commands.Single(c => c.StartsWith("MAIL FROM:", StringComparison.OrdinalIgnoreCase));
        log.WriteLine(mailFrom);
        var srs = System.Text.RegularExpressions.Regex.Match(mailFrom, "<(SRS0=[^=]{4}=[A-Z2-7]{2}=example\\.com=dave@example\\.org)>");
        Assert.True(srs.Success, mailFrom);
        Assert.Equal(1, await CountAsync(host, "alice@example.org", subject));

        // The receiver's SPF check, by pyspf against the same DNS: the reverse-path is ours, and so is the sending IP.
        var spf = await ExternalProcess.RunAsync("/usr/bin/python3", ["-c", $$"""
            import dns.resolver, spf
            r = dns.resolver.Resolver(configure=False)
            r.nameservers, r.port = ["{{_dns.EndPoint.Address}}"], {{_dns.EndPoint.Port}}
            dns.resolver.default_resolver = r
            print(spf.check2(i="127.0.0.1", s="{{srs.Groups[1].Value}}", h="mail.example.org")[0])
            """]);
        Assert.True(spf.ExitCode == 0, spf.StdOut + spf.StdErr);
        Assert.Equal("pass", spf.StdOut.Trim());

        // A bounce to the SRS address comes back to us and goes on to dave, from the null sender; a forged one is refused.
        var bounce = "bounce " + Guid.NewGuid().ToString("N")[..8];
        var forged = srs.Groups[1].Value.Replace("=dave@", "=eve@", StringComparison.Ordinal);
        Assert.Equal([$"{srs.Groups[1].Value} 250 2.1.5 Ok", $"{forged} 550 5.1.1 <{forged}>: Recipient address rejected: SRS hash does not match", "DATA 250"],
            await SendAsync(host.SmtpPort, "", bounce, srs.Groups[1].Value, forged));
        var returned = (await HostProcess.PollAsync(() => Task.FromResult(string.Join("\n", peer.Received.Where(r => r.Data.Contains(bounce, StringComparison.Ordinal)).Select(r => string.Join(",", r.Recipients)))),
            d => d.Length > 0, TimeSpan.FromSeconds(30), "the bounce never reached the original sender")).Trim();
        Assert.Equal("dave@example.com", returned);
        Assert.Contains("MAIL FROM:<>", peer.Commands);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_forwarded_message_carries_an_arc_set_of_the_forwarding_domain_that_dkimpy_verifies()
    {
        foreach (var (name, value) in DkimHostTests.ZoneRecords((await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org")).StdOut))
            _dns.Add(name, DnsRecordType.TXT, value);
        await using var peer = new ScriptedSmtpPeer();
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.Add("mx.example.net", DnsRecordType.A, "127.0.0.1");
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "fwd@example.org", "carol@example.net");
        await using var host = await HostProcess.StartAsync(_data.Path, "--Smtp:HostName=mail.example.org", $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1",
            $"--Outbound:RemotePort={peer.Port}", "--Outbound:MinimalBackoff=00:05:00", "--Outbound:PollInterval=00:00:00.050");

        var subject = "sealed " + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(["fwd@example.org 250 2.1.5 Ok", "DATA 250"], await SendAsync(host.SmtpPort, "dave@example.com", subject, "fwd@example.org"));
        var data = await HostProcess.PollAsync(() => Task.FromResult(string.Join("\n", peer.Received.Select(r => r.Data))),
            d => d.Contains(subject, StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the remote target never received the forwarded message");
        log.WriteLine(data[..data.IndexOf("\r\n\r\n", StringComparison.Ordinal)]);
        Assert.StartsWith("ARC-Seal: i=1; ", data, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^ARC-Authentication-Results: i=1; mail\.example\.org;", data);

        // dkimpy's ARC verifier (what arcverify runs), its DNS lookups answered by the loopback DNS with the printed records.
        var verify = await ExternalProcess.RunAsync("/usr/bin/python3", ["-c", $$"""
            import sys, dkim, dns.resolver
            r = dns.resolver.Resolver(configure=False)
            r.nameservers, r.port = ["{{_dns.EndPoint.Address}}"], {{_dns.EndPoint.Port}}
            def txt(name, timeout=5):
                answer = r.resolve(name.decode() if isinstance(name, bytes) else name, "TXT")
                return b"".join(b"".join(rr.strings) for rr in answer)
            cv, results, comment = dkim.arc_verify(sys.stdin.buffer.read(), dnsfunc=txt)
            print(cv.decode(), comment)
            """], data);
        Assert.True(verify.ExitCode == 0, verify.StdOut + verify.StdErr);
        Assert.StartsWith("pass", verify.StdOut, StringComparison.Ordinal);
    }
}
