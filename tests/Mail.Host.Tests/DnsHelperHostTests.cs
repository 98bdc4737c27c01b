using Mail.Testing;
using Mail.Testing.Dns;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// `mail dns check DOMAIN` against a loopback DNS server (Dns:NameServers) serving one domain's records, some right and
/// several wrong: each record printed as a zone-file line with its verdict and reason. Then the records are fixed and
/// the same command says so (exit 0).
/// </summary>
[Collection("host")]
public sealed class DnsHelperHostTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly TempData _data = new();
    private TestDnsServer _dns = null!;

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
    }

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
        _data.Dispose();
    }

    private Task<ExternalProcess.Result> CheckAsync(string domain) => HostProcess.AdminAsync(_data.Path, "dns", "check", domain,
        $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1", "--Dns:UseCache=false", "--Smtp:HostName=mail.example.org", "--Imap:HostName=mail.example.org");

    /// <summary>The verdict line after the zone-file line that starts with <paramref name="zoneStart"/>.</summary>
    private static string Verdict(string output, string zoneStart)
    {
        var lines = output.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        var i = Array.FindIndex(lines, l => l.StartsWith(zoneStart, StringComparison.Ordinal));
        Assert.True(i >= 0 && i + 1 < lines.Length, $"no line {zoneStart} in:\n{output}");
        return lines[i + 1];
    }

    /// <summary>The records of a domain whose MX and IMAP SRV are right, and whose SPF, DKIM, submission SRV are wrong,
    /// DMARC p=none, TLS-RPT missing.</summary>
    private static void Publish(TestDnsServer dns, bool fixedRecords, string? dkimRecord = null)
    {
        dns.AddMx("example.org", 10, "mail.example.org");
        dns.Add("mail.example.org", DnsRecordType.A, "127.0.0.1");
        dns.Add("_imaps._tcp.example.org", DnsRecordType.SRV, "0 1 2993 mail.example.org");
        dns.Add("_mta-sts.example.org", DnsRecordType.TXT, "v=STSv1; id=20261206");
        if (!fixedRecords)
        {
            dns.Add("example.org", DnsRecordType.TXT, "v=spf1 ip4:192.0.2.1 -all");
            // Another key's public key where ours should be.
            dns.Add("s1._domainkey.example.org", DnsRecordType.TXT, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
            dns.Add("_dmarc.example.org", DnsRecordType.TXT, "v=DMARC1; p=none; rua=mailto:dmarc@example.org");
            dns.Add("_submission._tcp.example.org", DnsRecordType.SRV, "0 1 587 mail.example.org");
            return;
        }
        dns.Add("example.org", DnsRecordType.TXT, "v=spf1 mx -all");
        dns.Add("s1._domainkey.example.org", DnsRecordType.TXT, dkimRecord!);
        dns.Add("_dmarc.example.org", DnsRecordType.TXT, "v=DMARC1; p=reject; rua=mailto:dmarc@example.org");
        dns.Add("_submission._tcp.example.org", DnsRecordType.SRV, "0 1 2587 mail.example.org");
        dns.Add("_submissions._tcp.example.org", DnsRecordType.SRV, "0 1 2465 mail.example.org");
        dns.Add("_imap._tcp.example.org", DnsRecordType.SRV, "0 1 2143 mail.example.org");
        dns.Add("_smtp._tls.example.org", DnsRecordType.TXT, "v=TLSRPTv1; rua=mailto:tlsrpt@example.org");
        dns.Add("mta-sts.example.org", DnsRecordType.CNAME, "mail.example.org");
    }

    [Fact]
    public async Task Dns_check_prints_zone_lines_and_marks_each_record_right_or_wrong_with_the_reason()
    {
        var added = (await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org", "--selector", "s1", "--algorithm", "ed25519")).StdOut;
        var ours = added.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("s1._domainkey.example.org. IN TXT", StringComparison.Ordinal));
        Publish(_dns, fixedRecords: false);

        var check = await CheckAsync("example.org");
        log.WriteLine(check.StdOut + check.StdErr);
        Assert.Equal(1, check.ExitCode);
        var o = check.StdOut;
        Assert.StartsWith(";   right: points to mail.example.org", Verdict(o, "example.org. IN MX 10 mail.example.org."), StringComparison.Ordinal);
        Assert.StartsWith(";   right: resolves", Verdict(o, "mail.example.org. IN A"), StringComparison.Ordinal);
        var spf = Verdict(o, "example.org. IN TXT \"v=spf1 mx -all\"");
        Assert.StartsWith(";   wrong: does not include our host: fail for 127.0.0.1 (mail.example.org)", spf, StringComparison.Ordinal);
        Assert.Contains("[found: v=spf1 ip4:192.0.2.1 -all]", spf, StringComparison.Ordinal);
        // The zone line to publish is the key `mail dkim add` printed.
        Assert.StartsWith(";   wrong: DKIM key mismatch", Verdict(o, ours), StringComparison.Ordinal);
        Assert.StartsWith(";   note: p=none", Verdict(o, "_dmarc.example.org. IN TXT"), StringComparison.Ordinal);
        Assert.StartsWith(";   right: policy id 20261206", Verdict(o, "_mta-sts.example.org. IN TXT"), StringComparison.Ordinal);
        Assert.StartsWith(";   missing: mta-sts.example.org has no address", Verdict(o, "mta-sts.example.org. IN CNAME mail.example.org."), StringComparison.Ordinal);
        Assert.StartsWith(";   missing: no v=TLSRPTv1 record", Verdict(o, "_smtp._tls.example.org. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@example.org\""), StringComparison.Ordinal);
        Assert.StartsWith(";   wrong: different value: mail.example.org port 587, not mail.example.org port 2587",
            Verdict(o, "_submission._tcp.example.org. IN SRV 0 1 2587 mail.example.org."), StringComparison.Ordinal);
        Assert.StartsWith(";   missing: no SRV record", Verdict(o, "_submissions._tcp.example.org. IN SRV 0 1 2465 mail.example.org."), StringComparison.Ordinal);
        Assert.StartsWith(";   right: mail.example.org port 2993", Verdict(o, "_imaps._tcp.example.org. IN SRV 0 1 2993 mail.example.org."), StringComparison.Ordinal);
        Assert.Contains(";   mx: mail.example.org", o, StringComparison.Ordinal);

        // Fixed: every record right, DMARC p=reject, exit 0.
        _dns.Clear();
        Publish(_dns, fixedRecords: true, dkimRecord: ours[(ours.IndexOf("TXT", StringComparison.Ordinal) + 3)..].Trim().Replace("\" \"", "", StringComparison.Ordinal).Trim('(', ')', ' ', '"'));
        var again = await CheckAsync("example.org");
        log.WriteLine(again.StdOut + again.StdErr);
        Assert.Contains("; all records right", again.StdOut, StringComparison.Ordinal);
        Assert.Equal(0, again.ExitCode);
        Assert.StartsWith(";   right: passes for 127.0.0.1", Verdict(again.StdOut, "example.org. IN TXT \"v=spf1 mx -all\""), StringComparison.Ordinal);
        Assert.StartsWith(";   right: the published key is this key", Verdict(again.StdOut, ours), StringComparison.Ordinal);

        // Not one of our domains, or not a domain: one line, exit 65.
        var other = await CheckAsync("example.net");
        Assert.Equal(65, other.ExitCode);
        Assert.Equal("mail: example.net is not one of our domains (mail domain list)", other.StdErr.Trim());
    }
}
