using Mail.Storage.Embedded;
using Mail.Testing;
using Mail.Testing.Dns;

namespace Mail.Host.Tests;

/// <summary>
/// `mail serve` composes the parts from settings: the resolver (Dns), the sender-authentication checks
/// (Authentication) and the Postfix-style defences (Defences). Proven with the real process, swaks and a
/// real DNS server on loopback.
/// </summary>
[Collection("host")]
public sealed class HostWiringTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Configured_name_server_and_defences_are_used_by_the_edge_and_the_pipeline()
    {
        await using var dns = await TestDnsServer.StartAsync();
        // The sender domain authorises exactly our loopback client, so SPF passes only if the host asks this server.
        dns.Add("example.net", DnsRecordType.TXT, "v=spf1 ip4:127.0.0.1 -all");
        dns.Add("forged.test", DnsRecordType.TXT, "v=spf1 ip4:192.0.2.1 -all");
        var headerChecks = Path.Combine(_data.Path, "header_checks");
        await File.WriteAllTextAsync(headerChecks, "/^Subject:.*forbidden fruit/ REJECT content refused\n");
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");

        await using var host = await HostProcess.StartAsync(_data.Path,
            $"--Dns:NameServers:0={dns.EndPoint}", "--Dns:Retries=1",
            $"--Defences:HeaderChecks={headerChecks}",
            "--Defences:Restrictions:smtpd_helo_restrictions=reject_invalid_helo_hostname",
            "--Defences:Restrictions:smtpd_sender_restrictions=reject_spf_fail");

        // header_checks REJECT answers at end of data, while the client is still connected.
        var refused = await Swaks(host, "--header", "Subject: forbidden fruit");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("550", refused.StdOut, StringComparison.Ordinal);
        Assert.Contains("content refused", refused.StdOut, StringComparison.Ordinal);

        // reject_invalid_helo_hostname from the restriction list.
        var badHelo = await Swaks(host, "--helo", "bad..helo", "--header", "Subject: hello");
        Assert.NotEqual(0, badHelo.ExitCode);
        Assert.Contains("Helo command rejected", badHelo.StdOut, StringComparison.OrdinalIgnoreCase);

        // reject_spf_fail: the edge checked SPF at MAIL FROM against the configured name server.
        var forged = await Swaks(host, "--from", "ceo@forged.test", "--header", "Subject: wire money");
        Assert.NotEqual(0, forged.ExitCode);
        Assert.Contains("550 5.7.23", forged.StdOut, StringComparison.Ordinal);

        // Ordinary mail to our domain still passes the default relay list and is delivered with spf=pass.
        var ok = await Swaks(host, "--helo", "client.example.net", "--header", "Subject: welcome");
        Assert.True(ok.ExitCode == 0, ok.StdOut + ok.StdErr);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        var mailboxes = new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db"));
        var record = Assert.Single(await mailboxes.ListMessagesAsync("alice@example.org", "INBOX"));
        var raw = await DeliveredCopies.ReadTextAsync(_data.Path, record.MessageRef);
        Assert.True(raw.Contains("spf=pass smtp.mailfrom=\"bob@example.net\"", StringComparison.Ordinal), raw[..Math.Min(raw.Length, 1500)]);
        Assert.True(dns.QueryCount("example.net", DnsRecordType.TXT) >= 1);
    }

    private static Task<ExternalProcess.Result> Swaks(HostProcess host, params string[] extra) =>
        ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "alice@example.org",
            .. extra.Contains("--from") ? extra : ["--from", "bob@example.net", .. extra]]);
}
