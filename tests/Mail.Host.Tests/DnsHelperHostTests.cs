using Mail.Testing;
using Mail.Testing.Dns;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// `mail dns check DOMAIN` against a loopback DNS server (Dns:NameServers) serving one domain's records, some right and
/// several wrong: each record printed as a zone-file line with its verdict and reason. Then the records are fixed and
/// the same command says so (exit 0). The MTA-STS policy is fetched over HTTPS from a loopback Kestrel server with a
/// certificate of a test CA (Outbound:TlsCaFile, Outbound:MtaSts:PolicyPort), as the outbound MTA-STS tests do.
/// </summary>
[Collection("host")]
public sealed class DnsHelperHostTests(ITestOutputHelper log) : IAsyncLifetime
{
    private const string Policy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 604800\r\n";
    private readonly TempData _data = new();
    private readonly TestCertificateAuthority _ca = new();
    private TestDnsServer _dns = null!;
    private PolicyServer _policy = null!;
    private string _caFile = "";

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        // https://mta-sts.example.org/.well-known/mta-sts.txt on a loopback port, its certificate from a test CA.
        _policy = await PolicyServer.StartAsync(_ca.Issue("mta-sts.example.org"), Policy);
        _caFile = _ca.WriteRootPem(Path.Combine(_data.Path, "test-ca.pem"));
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
    }

    public async Task DisposeAsync()
    {
        await _policy.DisposeAsync();
        await _dns.DisposeAsync();
        _ca.Dispose();
        _data.Dispose();
    }

    private Task<ExternalProcess.Result> CheckAsync(string domain) => HostProcess.AdminAsync(_data.Path, "dns", "check", domain,
        $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1", "--Dns:UseCache=false", "--Smtp:HostName=mail.example.org", "--Imap:HostName=mail.example.org",
        $"--Outbound:MtaSts:PolicyPort={_policy.Port}", $"--Outbound:TlsCaFile={_caFile}", "--Outbound:MtaSts:FetchTimeout=00:00:10");

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
        // The TXT id is there, but mta-sts.example.org has no address: the policy cannot be fetched, so senders have none.
        Assert.StartsWith($";   wrong: TXT id 20261206, but the policy cannot be fetched: https://mta-sts.example.org:{_policy.Port}/.well-known/mta-sts.txt: no address for mta-sts.example.org",
            Verdict(o, "_mta-sts.example.org. IN TXT"), StringComparison.Ordinal);
        Assert.Equal(0, _policy.Requests);
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
        // The policy fetched over HTTPS from the loopback server, as a sender would: enforce, mx covering the MX.
        var sts = Verdict(again.StdOut, "_mta-sts.example.org. IN TXT");
        Assert.StartsWith(";   right: TXT id 20261206, policy fetched, mode enforce, mx covers mail.example.org", sts, StringComparison.Ordinal);
        Assert.Contains("policy: mode enforce, mx mail.example.org, max_age 604800", sts, StringComparison.Ordinal);
        Assert.Equal("mta-sts.example.org", Assert.Single(_policy.Hosts.Distinct()));

        // A policy whose mx lines miss our MX: enforcing senders would not deliver; mode testing: a note.
        _policy.Policy = "version: STSv1\nmode: enforce\nmx: *.example.net\nmax_age: 86400\n";
        var uncovered = await CheckAsync("example.org");
        Assert.Equal(1, uncovered.ExitCode);
        Assert.StartsWith(";   wrong: TXT id 20261206, policy fetched (mode enforce), but its mx lines (*.example.net) do not cover the MX host mail.example.org",
            Verdict(uncovered.StdOut, "_mta-sts.example.org. IN TXT"), StringComparison.Ordinal);
        _policy.Policy = "version: STSv1\nmode: testing\nmx: mail.example.org\nmax_age: 86400\n";
        Assert.StartsWith(";   note: TXT id 20261206, policy fetched, mode testing", Verdict((await CheckAsync("example.org")).StdOut, "_mta-sts.example.org. IN TXT"), StringComparison.Ordinal);
        // A certificate the sender cannot trust: wrong, with the reason.
        _policy.Policy = Policy;
        await using (var stranger = await PolicyServer.StartAsync(_ca.Issue("other.example.org"), Policy))
        {
            var bad = await HostProcess.AdminAsync(_data.Path, "dns", "check", "example.org", $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1", "--Dns:UseCache=false",
                "--Smtp:HostName=mail.example.org", $"--Outbound:MtaSts:PolicyPort={stranger.Port}", $"--Outbound:TlsCaFile={_caFile}");
            Assert.Contains("but the policy cannot be fetched:", Verdict(bad.StdOut, "_mta-sts.example.org. IN TXT"), StringComparison.Ordinal);
            Assert.Contains("certificate of mta-sts.example.org is not valid for that name", Verdict(bad.StdOut, "_mta-sts.example.org. IN TXT"), StringComparison.Ordinal);
        }

        // Not one of our domains, or not a domain: one line, exit 65.
        var other = await CheckAsync("example.net");
        Assert.Equal(65, other.ExitCode);
        Assert.Equal("mail: example.net is not one of our domains (mail domain list)", other.StdErr.Trim());
    }

    /// <summary>`mail serve` serves the policy itself (Autoconfig:HttpsEndpoint, MtaSts:*): the helper fetches it from the
    /// running server as a sender would, over HTTPS with the mail certificate, and says right; other names get 404.</summary>
    [Fact]
    public async Task Serve_publishes_the_MTA_STS_policy_the_helper_then_finds_right()
    {
        // A policy the setting gets wrong stops the start with one line naming it.
        var bad = await HostProcess.AdminAsync(_data.Path, "serve", "--MtaSts:Mode=strict");
        Assert.Equal(78, bad.ExitCode);
        Assert.Contains("MtaSts: mode 'strict' is not enforce, testing or none", bad.StdErr, StringComparison.Ordinal);

        using var certificate = _ca.Issue("mail.example.org", "mta-sts.example.org");
        var pfx = Path.Combine(_data.Path, "mail.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx, "pw"));
        var https = FreePort.Tcp();
        await using var host = await HostProcess.StartAsync(_data.Path, $"--Autoconfig:HttpsEndpoint=127.0.0.1:{https}", $"--Tls:CertificatePath={pfx}", "--Tls:CertificatePassword=pw",
            "--Smtp:HostName=mail.example.org", "--MtaSts:Mode=enforce", "--MtaSts:MaxAge=86400", "--MtaSts:Domains:example.com:Mode=testing");
        Assert.Contains($"listening https autoconfig+mta-sts 127.0.0.1:{https}", host.Output, StringComparison.Ordinal);
        Publish(_dns, fixedRecords: false);
        _dns.Add("mta-sts.example.org", DnsRecordType.A, "127.0.0.1");

        var check = await HostProcess.AdminAsync(_data.Path, "dns", "check", "example.org", $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1", "--Dns:UseCache=false",
            "--Smtp:HostName=mail.example.org", $"--Outbound:MtaSts:PolicyPort={https}", $"--Outbound:TlsCaFile={_caFile}", "--MtaSts:Mode=enforce", "--MtaSts:MaxAge=86400");
        log.WriteLine(check.StdOut + check.StdErr);
        var sts = Verdict(check.StdOut, "_mta-sts.example.org. IN TXT");
        Assert.StartsWith(";   right: TXT id 20261206, policy fetched, mode enforce, mx covers mail.example.org", sts, StringComparison.Ordinal);
        Assert.Contains("policy: mode enforce, mx mail.example.org, max_age 86400", sts, StringComparison.Ordinal);
        // The advised text is the served text, so its id is the one to publish.
        Assert.Contains(";   mode: enforce", check.StdOut, StringComparison.Ordinal);
        Assert.Contains(";   max_age: 86400", check.StdOut, StringComparison.Ordinal);
        Assert.Equal(0, _policy.Requests);

        // As curl sees it: 200 text/plain for our domain; 404 for a domain we do not serve and for plain HTTP's absence of TLS.
        async Task<string> Curl(string name, params string[] extra) => (await ExternalProcess.RunAsync("curl",
            ["-sk", "-o", "/dev/stderr", "-w", "%{http_code} %{content_type}", "--resolve", $"{name}:{https}:127.0.0.1", .. extra, $"https://{name}:{https}/.well-known/mta-sts.txt"])).StdOut.Trim();
        Assert.Equal("200 text/plain; charset=utf-8", await Curl("mta-sts.example.org"));
        Assert.StartsWith("404", await Curl("mta-sts.example.net"), StringComparison.Ordinal);
        Assert.StartsWith("404", await Curl("mail.example.org"), StringComparison.Ordinal);
        var text = await ExternalProcess.RunAsync("curl", ["-sk", "--resolve", $"mta-sts.example.org:{https}:127.0.0.1", $"https://mta-sts.example.org:{https}/.well-known/mta-sts.txt"]);
        Assert.Equal("version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 86400\r\n", text.StdOut);

    }
}
