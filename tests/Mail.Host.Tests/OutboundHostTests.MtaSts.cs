using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Mail.Testing;
using Mail.Testing.Dns;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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

    private Task<(HostProcess Host, int Submission)> StartMtaStsAsync(int remotePort, PolicyServer policy, TestCertificateAuthority ca) =>
        StartAsync(remotePort, "--Outbound:TlsPolicy=MtaSts", $"--Outbound:MtaSts:PolicyPort={policy.Port}",
            $"--Outbound:TlsCaFile={ca.WriteRootPem(Path.Combine(_data.Path, "test-ca.pem"))}",
            // Every TXT change reaches the server at once, and no connection outlives a message.
            "--Dns:UseCache=false", "--Outbound:ConnectionReuseTime=00:00:00");

    private static int Count(HostProcess host, string text) => host.Output.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    private static Task WaitForCountAsync(HostProcess host, string text, int count) =>
        HostProcess.PollAsync(() => Task.FromResult(host.Output), o => o.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal)) >= count,
            TimeSpan.FromSeconds(30), $"'{text}' not printed {count} time(s)");

    [Fact]
    public async Task Mta_sts_enforce_with_a_matching_mx_and_a_valid_certificate_delivers_over_tls()
    {
        using var ca = new TestCertificateAuthority();
        await using var policy = await PolicyServer.StartAsync(ca.Issue("mta-sts.example.net"), EnforceAnyExampleNet);
        await using var peer = new ScriptedSmtpPeer { Certificate = ca.Issue("mx.example.net") };
        PublishMtaSts("20261205A");
        var (host, submission) = await StartMtaStsAsync(peer.Port, policy, ca);
        await using var _ = host;
        await SubmitAsync(submission, "mta-sts enforce", "bob@example.net");

        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Equal([true], peer.ReceivedOverTls);
        Assert.Equal(1, policy.Requests);
        Assert.Contains("MTA-STS policy of example.net fetched: id 20261205A, mode enforce, max_age 86400, mx *.example.net", host.Output, StringComparison.Ordinal);
        Assert.Equal("mta-sts.example.net", Assert.Single(policy.Hosts.Distinct()));
    }

    [Fact]
    public async Task Mta_sts_enforce_defers_when_no_mx_matches_the_policy()
    {
        using var ca = new TestCertificateAuthority();
        await using var policy = await PolicyServer.StartAsync(ca.Issue("mta-sts.example.net"), "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mx.example.net\r\nmax_age: 86400\r\n");
        await using var peer = new ScriptedSmtpPeer { Certificate = ca.Issue("mx.example.net") };
        PublishMtaSts("1");
        var (host, submission) = await StartMtaStsAsync(peer.Port, policy, ca);
        await using var _ = host;
        await SubmitAsync(submission, "mta-sts no mx", "bob@example.net");

        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = host.Output.Split('\n').Single(l => l.Contains("status=deferred", StringComparison.Ordinal));
        log.WriteLine(line);
        Assert.Contains("relay=none", line, StringComparison.Ordinal);
        Assert.Contains("dsn=4.7.5", line, StringComparison.Ordinal);
        Assert.Contains("MTA-STS policy of example.net (enforce, id 1) allows MX mail.example.com, *.mx.example.net; none of mx.example.net matches", line, StringComparison.Ordinal);
        Assert.Equal(0, peer.Connections);
    }

    [Theory]
    [InlineData("untrusted", "does not chain to a trusted root")]
    [InlineData("wrong-name", "is not valid for that name")]
    public async Task Mta_sts_enforce_defers_on_a_bad_mx_certificate_and_never_falls_back_to_plaintext(string which, string reason)
    {
        using var ca = new TestCertificateAuthority();
        using var stranger = new TestCertificateAuthority("Someone Else's CA");
        await using var policy = await PolicyServer.StartAsync(ca.Issue("mta-sts.example.net"), EnforceAnyExampleNet);
        await using var peer = new ScriptedSmtpPeer { Certificate = which == "untrusted" ? stranger.Issue("mx.example.net") : ca.Issue("other.example.org") };
        PublishMtaSts("1");
        var (host, submission) = await StartMtaStsAsync(peer.Port, policy, ca);
        await using var _ = host;
        await SubmitAsync(submission, "mta-sts bad certificate", "bob@example.net");

        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = host.Output.Split('\n').Single(l => l.Contains("status=deferred", StringComparison.Ordinal));
        log.WriteLine(line);
        Assert.Contains("dsn=4.7.5", line, StringComparison.Ordinal);
        Assert.Contains("MTA-STS policy of example.net (enforce, id 1): certificate of mx.example.net " + reason, line, StringComparison.Ordinal);
        // One TLS attempt per address, no second connection in plaintext, nothing delivered.
        Assert.Empty(peer.Received);
        Assert.Equal(1, peer.Connections);
        Assert.DoesNotContain("status=sent", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mta_sts_enforce_defers_when_the_mx_offers_no_starttls()
    {
        using var ca = new TestCertificateAuthority();
        await using var policy = await PolicyServer.StartAsync(ca.Issue("mta-sts.example.net"), EnforceAnyExampleNet);
        await using var peer = new ScriptedSmtpPeer();
        PublishMtaSts("1");
        var (host, submission) = await StartMtaStsAsync(peer.Port, policy, ca);
        await using var _ = host;
        await SubmitAsync(submission, "mta-sts no starttls", "bob@example.net");

        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = host.Output.Split('\n').Single(l => l.Contains("status=deferred", StringComparison.Ordinal));
        log.WriteLine(line);
        Assert.Contains("dsn=4.7.4", line, StringComparison.Ordinal);
        Assert.Contains("TLS is required by the MTA-STS policy of example.net, but was not offered by host mx.example.net", line, StringComparison.Ordinal);
        Assert.Empty(peer.Received);
    }

    [Fact]
    public async Task Mta_sts_testing_delivers_and_logs_one_warning_per_failure()
    {
        using var ca = new TestCertificateAuthority();
        using var stranger = new TestCertificateAuthority("Someone Else's CA");
        await using var policy = await PolicyServer.StartAsync(ca.Issue("mta-sts.example.net"), "version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 600\n");
        await using var peer = new ScriptedSmtpPeer { Certificate = stranger.Issue("mx.example.net") };
        PublishMtaSts("1");
        var (host, submission) = await StartMtaStsAsync(peer.Port, policy, ca);
        await using var _ = host;
        await SubmitAsync(submission, "mta-sts testing", "bob@example.net");

        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Equal([true], peer.ReceivedOverTls);
        Assert.Equal(1, Count(host, "MTA-STS testing: policy of example.net (id 1) does not allow MX mx.example.net (mx: mail.example.com); delivering anyway"));
        Assert.Equal(1, Count(host, "MTA-STS testing: policy of example.net (id 1) would refuse mx.example.net: certificate of mx.example.net does not chain to a trusted root"));
        Assert.Equal(2, Count(host, "MTA-STS testing:"));

        // Without STARTTLS the message still goes, in plaintext, with that warning.
        peer.Certificate = null;
        await SubmitAsync(submission, "mta-sts testing plaintext", "bob@example.net");
        await WaitForCountAsync(host, "status=sent", 2);
        Assert.Equal([true, false], peer.ReceivedOverTls);
        Assert.Equal(1, Count(host, "MTA-STS testing: policy of example.net (id 1) would refuse mx.example.net[127.0.0.1:"));
    }

    [Fact]
    public async Task Mta_sts_cached_policy_stays_in_force_when_a_new_one_cannot_be_fetched()
    {
        using var ca = new TestCertificateAuthority();
        var policy = await PolicyServer.StartAsync(ca.Issue("mta-sts.example.net"), "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 86400\r\n");
        await using var peer = new ScriptedSmtpPeer { Certificate = ca.Issue("mx.example.net", "mx2.example.net") };
        PublishMtaSts("1");
        var (host, submission) = await StartMtaStsAsync(peer.Port, policy, ca);
        await using var _ = host;
        await SubmitAsync(submission, "mta-sts first", "bob@example.net");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));

        // The policy server is gone and the TXT id changed, so the new policy cannot be fetched; the domain now names an
        // MX the cached policy does not allow. Without the cached policy this would be delivered.
        await policy.DisposeAsync();
        PublishMtaSts("2", mx: "mx2.example.net");
        await SubmitAsync(submission, "mta-sts second", "bob@example.net");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = host.Output.Split('\n').Single(l => l.Contains("status=deferred", StringComparison.Ordinal));
        log.WriteLine(line);
        Assert.Contains("dsn=4.7.5", line, StringComparison.Ordinal);
        Assert.Contains("(enforce, id 1) allows MX mx.example.net; none of mx2.example.net matches", line, StringComparison.Ordinal);
        Assert.Contains("MTA-STS policy of example.net (id 2) could not be fetched: https://mta-sts.example.net:", host.Output, StringComparison.Ordinal);
        Assert.Contains("using the cached policy (id 1, mode enforce)", host.Output, StringComparison.Ordinal);
        Assert.Single(peer.Received);
    }

    [Fact]
    public async Task Mta_sts_policy_is_fetched_again_only_when_the_txt_id_changes()
    {
        using var ca = new TestCertificateAuthority();
        await using var policy = await PolicyServer.StartAsync(ca.Issue("mta-sts.example.net"), "version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 86400\r\n");
        await using var peer = new ScriptedSmtpPeer { Certificate = ca.Issue("mx.example.net") };
        PublishMtaSts("1");
        var (host, submission) = await StartMtaStsAsync(peer.Port, policy, ca);
        await using var _ = host;
        await SubmitAsync(submission, "first", "bob@example.net");
        await WaitForCountAsync(host, "status=sent", 1);
        await SubmitAsync(submission, "same id", "bob@example.net");
        await WaitForCountAsync(host, "status=sent", 2);
        Assert.Equal(1, policy.Requests);

        policy.Policy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n";
        PublishMtaSts("2");
        await SubmitAsync(submission, "new id", "bob@example.net");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        Assert.Equal(2, policy.Requests);
        Assert.Contains("MTA-STS policy of example.net fetched: id 2, mode enforce", host.Output, StringComparison.Ordinal);
        Assert.Contains("(enforce, id 2) allows MX mail.example.com; none of mx.example.net matches", host.Output, StringComparison.Ordinal);
        Assert.Equal(2, peer.Received.Count);
    }

    /// <summary>https://mta-sts.DOMAIN:PORT/.well-known/mta-sts.txt on loopback (Kestrel), serving <see cref="Policy"/>.</summary>
    private sealed class PolicyServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _requests;
        private bool _disposed;

        private PolicyServer(WebApplication app, string policy) => (_app, Policy) = (app, policy);

        public volatile string Policy;

        public int Port { get; private set; }

        public int Requests => Volatile.Read(ref _requests);

        /// <summary>The Host header of each request.</summary>
        public ConcurrentQueue<string> Hosts { get; } = new();

        public static async Task<PolicyServer> StartAsync(X509Certificate2 certificate, string policy)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
            var app = builder.Build();
            var server = new PolicyServer(app, policy);
            app.MapGet("/.well-known/mta-sts.txt", (HttpContext context) =>
            {
                Interlocked.Increment(ref server._requests);
                server.Hosts.Enqueue(context.Request.Host.Host);
                return Results.Text(server.Policy, "text/plain; charset=utf-8");
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            server.Port = new Uri(address).Port;
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            if (_disposed) return;
            _disposed = true;
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
