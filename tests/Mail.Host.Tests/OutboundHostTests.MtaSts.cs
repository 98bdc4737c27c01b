using System.Net;
using System.Security.Cryptography.X509Certificates;
using Mail.Testing;
using Mail.Testing.Dns;

namespace Mail.Host.Tests;

/// <summary>
/// MTA-STS (RFC 8461) in the real `mail serve`: the _mta-sts TXT record on the loopback DNS server, the policy on a
/// loopback Kestrel HTTPS server whose certificate comes from a test CA (Outbound:TlsCaFile), and a scripted SMTP peer
/// that speaks STARTTLS with a certificate of the test's choosing.
/// </summary>
public sealed partial class OutboundHostTests
{
    private const string EnforceAnyExampleNet = "version: STSv1\r\nmode: enforce\r\nmx: *.example.net\r\nmax_age: 86400\r\n";

    /// <summary>example.net: MX mx.example.net (127.0.0.1), its policy server mta-sts.example.net (127.0.0.1), TXT id.</summary>
    private void PublishMtaSts(string id, string mx = "mx.example.net")
    {
        _dns.Clear();
        _dns.AddMx("example.net", 10, mx);
        _dns.Add(mx, DnsRecordType.A, "127.0.0.1");
        _dns.Add("mta-sts.example.net", DnsRecordType.A, "127.0.0.1");
        _dns.Add("_mta-sts.example.net", DnsRecordType.TXT, $"v=STSv1; id={id};");
    }

    /// <summary>A test CA, the policy server for example.net serving <paramref name="policy"/>, a STARTTLS peer with the
    /// certificate <paramref name="peerCertificate"/> makes (none: no STARTTLS), the TXT id, and `mail serve` with MtaSts.</summary>
    private async Task<MtaStsRun> StartMtaStsAsync(string policy, Func<TestCertificateAuthority, X509Certificate2?> peerCertificate, string id = "1",
        string mx = "mx.example.net", X509Certificate2? policyCertificate = null, params string[] extra)
    {
        var ca = new TestCertificateAuthority();
        var server = await PolicyServer.StartAsync(policyCertificate ?? ca.Issue("mta-sts.example.net"), policy);
        var peer = new ScriptedSmtpPeer { Certificate = peerCertificate(ca) };
        PublishMtaSts(id, mx);
        string[] settings = ["--Outbound:TlsPolicy=MtaSts", $"--Outbound:MtaSts:PolicyPort={server.Port}",
            $"--Outbound:TlsCaFile={ca.WriteRootPem(Path.Combine(_data.Path, "test-ca.pem"))}",
            // Every TXT change reaches the server at once, and no connection outlives a message.
            "--Dns:UseCache=false", "--Outbound:ConnectionReuseTime=00:00:00", .. extra];
        var (host, submission) = await StartAsync(peer.Port, settings);
        return new MtaStsRun(ca, server, peer, host, submission);
    }

    private sealed record MtaStsRun(TestCertificateAuthority Ca, PolicyServer Policy, ScriptedSmtpPeer Peer, HostProcess Host, int Submission) : IAsyncDisposable
    {
        public Task<string> SubmitAsync(string subject) => OutboundHostTests.SubmitAsync(Submission, subject, "bob@example.net");

        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            await Peer.DisposeAsync();
            await Policy.DisposeAsync();
            Ca.Dispose();
        }
    }

    private static int Count(HostProcess host, string text) => host.Output.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    private static Task WaitForCountAsync(HostProcess host, string text, int count) =>
        HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal)) >= count,
            TimeSpan.FromSeconds(30), $"'{text}' not printed {count} time(s)");

    /// <summary>The one delivery-log line of a deferral, once printed.</summary>
    private async Task<string> DeferredLineAsync(HostProcess host)
    {
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = host.Output.Split('\n').Single(l => l.Contains("status=deferred", StringComparison.Ordinal));
        log.WriteLine(line);
        return line;
    }

    [Fact]
    public async Task Mta_sts_enforce_with_a_matching_mx_and_a_valid_certificate_delivers_over_tls()
    {
        await using var run = await StartMtaStsAsync(EnforceAnyExampleNet, ca => ca.Issue("mx.example.net"), id: "20261205A");
        await run.SubmitAsync("mta-sts enforce");

        await run.Host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Equal([true], run.Peer.ReceivedOverTls);
        Assert.Equal(1, run.Policy.Requests);
        Assert.Contains("MTA-STS policy of example.net fetched: id 20261205A, mode enforce, max_age 86400, mx *.example.net", run.Host.Output, StringComparison.Ordinal);
        Assert.Equal("mta-sts.example.net", Assert.Single(run.Policy.Hosts.Distinct()));
    }

    [Fact]
    public async Task Tls_rpt_records_the_mta_sts_session_and_mails_the_days_report_to_the_rua()
    {
        // RFC 8460: the session is counted per policy domain; once its day is over, the report (gzipped JSON in a
        // multipart/report; report-type=tlsrpt) goes to the mailto: rua of _smtp._tls.example.net, which is this peer.
        await using var run = await StartMtaStsAsync(EnforceAnyExampleNet, ca => ca.Issue("mx.example.net"), id: "77",
            extra: "--Outbound:TlsReporting:CheckInterval=00:00:01");
        _dns.Add("_smtp._tls.example.net", DnsRecordType.TXT, "v=TLSRPTv1; rua=mailto:tls-reports@example.net");
        await run.SubmitAsync("counted by tls-rpt");
        await run.Host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        var state = new Mail.Storage.Embedded.SqliteStateStore(Path.Combine(_data.Path, "mail.db"));
        var entry = await HostProcess.PollAsync(async () =>
        {
            await foreach (var e in state.ListAsync("tls-rpt")) return e.Key + "\n" + e.Value;
            return "";
        }, v => v.Contains("\"Successes\":1", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "no TLS-RPT result stored");
        log.WriteLine(entry);
        var (key, json) = (entry.Split('\n')[0], entry.Split('\n')[1]);
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"{today}|example.net|Sts", key);
        Assert.Empty(run.Peer.Received.Skip(1));

        // The day ends: the stored results are moved to yesterday, as they would be found tomorrow.
        var yesterday = DateTime.UtcNow.AddDays(-1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        await state.PutAsync("tls-rpt", $"{yesterday}|example.net|Sts", json.Replace($"\"Day\":\"{today}\"", $"\"Day\":\"{yesterday}\"", StringComparison.Ordinal));
        await state.DeleteAsync("tls-rpt", key);
        await HostProcess.PollAsync(() => Task.FromResult(run.Peer.Received.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)), n => n == "2",
            TimeSpan.FromSeconds(60), "no TLS-RPT report arrived");

        var (rcpts, data) = run.Peer.Received.Last();
        Assert.Equal(["tls-reports@example.net"], rcpts);
        var report = await MimeKit.MimeMessage.LoadAsync(new MemoryStream(System.Text.Encoding.Latin1.GetBytes(data)));
        Assert.Equal("example.net", report.Headers["TLS-Report-Domain"]);
        Assert.Equal("mail.example.org", report.Headers["TLS-Report-Submitter"]);
        Assert.StartsWith("Report Domain: example.net Submitter: mail.example.org Report-ID: <", report.Subject, StringComparison.Ordinal);
        var multipart = Assert.IsType<MimeKit.MultipartReport>(report.Body);
        Assert.Equal("tlsrpt", multipart.ReportType);
        var gz = Assert.Single(multipart.OfType<MimeKit.MimePart>(), p => p.ContentType.MimeType == "application/tlsrpt+gzip");
        var begin = new DateTimeOffset(DateTime.UtcNow.Date.AddDays(-1), TimeSpan.Zero).ToUnixTimeSeconds();
        Assert.Matches($@"^mail\.example\.org!example\.net!{begin}!{begin + 86399}![0-9a-f.]+\.json\.gz$", gz.FileName);
        using var packed = new MemoryStream();
        await gz.Content!.DecodeToAsync(packed);
        packed.Position = 0;
        using var unpacked = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionMode.Decompress);
        using var doc = await System.Text.Json.JsonDocument.ParseAsync(unpacked);
        log.WriteLine(doc.RootElement.ToString());
        var root = doc.RootElement;
        Assert.Equal("mail.example.org", root.GetProperty("organization-name").GetString());
        Assert.Equal($"{yesterday}T00:00:00Z", root.GetProperty("date-range").GetProperty("start-datetime").GetString());
        Assert.Equal($"{yesterday}T23:59:59Z", root.GetProperty("date-range").GetProperty("end-datetime").GetString());
        Assert.Equal("postmaster@mail.example.org", root.GetProperty("contact-info").GetString());
        Assert.Equal(report.MessageId, root.GetProperty("report-id").GetString());
        var policy = Assert.Single(root.GetProperty("policies").EnumerateArray().ToList());
        Assert.Equal("sts", policy.GetProperty("policy").GetProperty("policy-type").GetString());
        Assert.Equal("example.net", policy.GetProperty("policy").GetProperty("policy-domain").GetString());
        Assert.Equal(["version: STSv1", "mode: enforce", "mx: *.example.net", "max_age: 86400"],
            policy.GetProperty("policy").GetProperty("policy-string").EnumerateArray().Select(x => x.GetString()!).ToList());
        Assert.Equal(["mx.example.net"], policy.GetProperty("policy").GetProperty("mx-host").EnumerateArray().Select(x => x.GetString()!).ToList());
        Assert.Equal(1, policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());
        Assert.Equal(0, policy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64());
        Assert.Equal(0, policy.GetProperty("failure-details").GetArrayLength());
        // Reported once: the day's results are gone (the report's own delivery counts for today).
        await HostProcess.PollAsync(async () =>
        {
            var n = 0;
            await foreach (var e in state.ListAsync("tls-rpt")) n += e.Key.StartsWith(yesterday, StringComparison.Ordinal) ? 1 : 0;
            return n.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }, n => n == "0", TimeSpan.FromSeconds(30), "the reported day is still stored");
    }

    [Fact]
    public async Task Mta_sts_enforce_defers_when_no_mx_matches_the_policy()
    {
        await using var run = await StartMtaStsAsync("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mx.example.net\r\nmax_age: 86400\r\n",
            ca => ca.Issue("mx.example.net"));
        await run.SubmitAsync("mta-sts no mx");

        var line = await DeferredLineAsync(run.Host);
        Assert.Contains("relay=none", line, StringComparison.Ordinal);
        Assert.Contains("dsn=4.7.5", line, StringComparison.Ordinal);
        Assert.Contains("MTA-STS policy of example.net (enforce, id 1) allows MX mail.example.com, *.mx.example.net; none of mx.example.net matches", line, StringComparison.Ordinal);
        Assert.Equal(0, run.Peer.Connections);
    }

    [Theory]
    [InlineData("untrusted", "does not chain to a trusted root")]
    [InlineData("wrong-name", "is not valid for that name")]
    public async Task Mta_sts_enforce_defers_on_a_bad_mx_certificate_and_never_falls_back_to_plaintext(string which, string reason)
    {
        using var stranger = new TestCertificateAuthority("Someone Else's CA");
        await using var run = await StartMtaStsAsync(EnforceAnyExampleNet, ca => which == "untrusted" ? stranger.Issue("mx.example.net") : ca.Issue("other.example.org"));
        await run.SubmitAsync("mta-sts bad certificate");

        var line = await DeferredLineAsync(run.Host);
        Assert.Contains("dsn=4.7.5", line, StringComparison.Ordinal);
        Assert.Contains("MTA-STS policy of example.net (enforce, id 1): certificate of mx.example.net " + reason, line, StringComparison.Ordinal);
        // One TLS attempt per address, no second connection in plaintext, nothing delivered.
        Assert.Empty(run.Peer.Received);
        Assert.Equal(1, run.Peer.Connections);
        Assert.DoesNotContain("status=sent", run.Host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mta_sts_enforce_defers_when_the_mx_offers_no_starttls()
    {
        await using var run = await StartMtaStsAsync(EnforceAnyExampleNet, _ => null);
        await run.SubmitAsync("mta-sts no starttls");

        var line = await DeferredLineAsync(run.Host);
        Assert.Contains("dsn=4.7.4", line, StringComparison.Ordinal);
        Assert.Contains("TLS is required by the MTA-STS policy of example.net, but was not offered by host mx.example.net", line, StringComparison.Ordinal);
        Assert.Empty(run.Peer.Received);
    }

    [Fact]
    public async Task Mta_sts_testing_delivers_and_logs_one_warning_per_failure()
    {
        using var stranger = new TestCertificateAuthority("Someone Else's CA");
        await using var run = await StartMtaStsAsync("version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 600\n", _ => stranger.Issue("mx.example.net"));
        var host = run.Host;
        await run.SubmitAsync("mta-sts testing");

        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Equal([true], run.Peer.ReceivedOverTls);
        Assert.Equal(1, Count(host, "MTA-STS testing: policy of example.net (id 1) does not allow MX mx.example.net (mx: mail.example.com); delivering anyway"));
        Assert.Equal(1, Count(host, "MTA-STS testing: policy of example.net (id 1) would refuse mx.example.net: certificate of mx.example.net does not chain to a trusted root"));
        Assert.Equal(2, Count(host, "MTA-STS testing:"));

        // Without STARTTLS the message still goes, in plaintext, with that warning.
        run.Peer.Certificate = null;
        await run.SubmitAsync("mta-sts testing plaintext");
        await WaitForCountAsync(host, "status=sent", 2);
        Assert.Equal([true, false], run.Peer.ReceivedOverTls);
        Assert.Equal(1, Count(host, "MTA-STS testing: policy of example.net (id 1) would refuse mx.example.net[127.0.0.1:"));
    }

    [Fact]
    public async Task Mta_sts_policy_from_a_server_with_an_untrusted_certificate_is_not_used()
    {
        using var stranger = new TestCertificateAuthority("Someone Else's CA");
        await using var run = await StartMtaStsAsync("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n", ca => ca.Issue("mx.example.net"),
            policyCertificate: stranger.Issue("mta-sts.example.net"));
        await run.SubmitAsync("mta-sts policy server untrusted");

        // The (enforce, non-matching) policy was refused, so the domain has none: delivered as May.
        await run.Host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Contains($"MTA-STS policy of example.net (id 1) could not be fetched: https://mta-sts.example.net:{run.Policy.Port}/.well-known/mta-sts.txt: " +
                        "certificate of mta-sts.example.net does not chain to a trusted root", run.Host.Output, StringComparison.Ordinal);
        Assert.Contains("no policy cached, delivering as without one", run.Host.Output, StringComparison.Ordinal);
        Assert.Equal(0, run.Policy.Requests);
        Assert.Single(run.Peer.Received);
    }

    [Fact]
    public async Task Mta_sts_cached_policy_stays_in_force_when_a_new_one_cannot_be_fetched()
    {
        await using var run = await StartMtaStsAsync("version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 86400\r\n", ca => ca.Issue("mx.example.net", "mx2.example.net"));
        await run.SubmitAsync("mta-sts first");
        await run.Host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        // The policy server is gone and the TXT id changed, so the new policy cannot be fetched; the domain now names an
        // MX the cached policy does not allow. Without the cached policy this would be delivered.
        await run.Policy.DisposeAsync();
        PublishMtaSts("2", mx: "mx2.example.net");
        await run.SubmitAsync("mta-sts second");
        var line = await DeferredLineAsync(run.Host);
        Assert.Contains("dsn=4.7.5", line, StringComparison.Ordinal);
        Assert.Contains("(enforce, id 1) allows MX mx.example.net; none of mx2.example.net matches", line, StringComparison.Ordinal);
        Assert.Contains("MTA-STS policy of example.net (id 2) could not be fetched: https://mta-sts.example.net:", run.Host.Output, StringComparison.Ordinal);
        Assert.Contains("using the cached policy (id 1, mode enforce)", run.Host.Output, StringComparison.Ordinal);
        Assert.Single(run.Peer.Received);
    }

    [Fact]
    public async Task Mta_sts_policy_is_fetched_again_only_when_the_txt_id_changes()
    {
        await using var run = await StartMtaStsAsync("version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 86400\r\n", ca => ca.Issue("mx.example.net"));
        await run.SubmitAsync("first");
        await WaitForCountAsync(run.Host, "status=sent", 1);
        await run.SubmitAsync("same id");
        await WaitForCountAsync(run.Host, "status=sent", 2);
        Assert.Equal(1, run.Policy.Requests);

        run.Policy.Policy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n";
        PublishMtaSts("2");
        await run.SubmitAsync("new id");
        await DeferredLineAsync(run.Host);
        Assert.Equal(2, run.Policy.Requests);
        Assert.Contains("MTA-STS policy of example.net fetched: id 2, mode enforce", run.Host.Output, StringComparison.Ordinal);
        Assert.Contains("(enforce, id 2) allows MX mail.example.com; none of mx.example.net matches", run.Host.Output, StringComparison.Ordinal);
        Assert.Equal(2, run.Peer.Received.Count);
    }
}
