using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mail.Testing;
using Mail.Testing.Dns;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// DANE for SMTP (RFC 7672) in the real `mail serve` with Outbound:TlsPolicy=Dane: MX and TLSA records come from a
/// real validating resolver (unbound) in front of knotd signing the zone; the MX is a scripted peer on loopback that
/// speaks STARTTLS with certificates made for each case.
/// </summary>
[Collection("host")]
public sealed class OutboundDaneHostTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly TempData _data = new();
    private readonly ScriptedSmtpPeer _peer = new();
    private readonly int _submission = FreePort.Tcp();
    private ValidatingResolver? _dns;

    public async Task InitializeAsync()
    {
        if (ValidatingResolver.Missing is not null) return;
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
    }

    public async Task DisposeAsync()
    {
        if (_dns is not null)
        {
            log.WriteLine(_dns.Log.Length > 4000 ? _dns.Log[^4000..] : _dns.Log);
            await _dns.DisposeAsync();
        }
        await _peer.DisposeAsync();
        _data.Dispose();
    }

    /// <summary>"3 1 1 …": DANE-EE, SubjectPublicKeyInfo, SHA2-256 (what most DANE MX hosts publish).</summary>
    private static string DaneEe(X509Certificate2 cert) => "3 1 1 " + Convert.ToHexString(SHA256.HashData(cert.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>The TLSA owner for the MX host "mx" of a zone on the peer's port (the port mail is delivered to).</summary>
    private string TlsaName => $"_{_peer.Port}._tcp.mx";

    private async Task<HostProcess> StartAsync(params TestZone[] zones)
    {
        _dns = await ValidatingResolver.StartAsync(zones);
        return await HostProcess.StartAsync(_data.Path, [
            "--Smtp:Listeners:1:Name=submission", $"--Smtp:Listeners:1:Endpoint=127.0.0.1:{_submission}", "--Smtp:Listeners:1:Role=Submission",
            "--Smtp:AllowPlaintextAuthOnLoopback=true", "--Smtp:HostName=mail.example.org",
            $"--Dns:NameServers:0={_dns.EndPoint}", "--Dns:Retries=1",
            $"--Outbound:RemotePort={_peer.Port}", "--Outbound:TlsPolicy=Dane",
            "--Outbound:MinimalBackoff=00:05:00", "--Outbound:PollInterval=00:00:00.050"]);
    }

    private Task SubmitAsync(string subject, string to) => OutboundHostTests.SubmitAsync(_submission, subject, to);

    private static string LineWith(HostProcess host, string text) =>
        host.Output.Split('\n').First(l => l.Contains(text, StringComparison.Ordinal));

    [DnssecFact]
    public async Task A_certificate_matching_the_dane_ee_record_gets_the_mail_over_tls()
    {
        _peer.Certificate = TestCertificates.SelfSigned("some-other-name.example");
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx A 127.0.0.1", $"{TlsaName} TLSA {DaneEe(_peer.Certificate)}"));
        await SubmitAsync("dane ee", "bob@secure.test");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        log.WriteLine(LineWith(host, "status=sent"));
        Assert.Contains("to=<bob@secure.test>, relay=mx.secure.test[127.0.0.1]", LineWith(host, "status=sent"), StringComparison.Ordinal);
        Assert.Equal([true], _peer.ReceivedOverTls);
    }

    [DnssecFact]
    public async Task A_certificate_not_matching_is_deferred_with_4_7_5_and_never_sent_in_plaintext()
    {
        _peer.Certificate = TestCertificates.SelfSigned("mx.secure.test");
        var published = TestCertificates.SelfSigned("mx.secure.test");
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx A 127.0.0.1", $"{TlsaName} TLSA {DaneEe(published)}"));
        await SubmitAsync("dane mismatch", "bob@secure.test");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = LineWith(host, "status=deferred");
        log.WriteLine(line);
        Assert.Contains("dsn=4.7.5, status=deferred", line, StringComparison.Ordinal);
        Assert.Contains("DANE: no TLSA record matches the certificate", line, StringComparison.Ordinal);
        Assert.True(_peer.Connections >= 1, "the MX was never contacted");
        Assert.Empty(_peer.Received);
        Assert.DoesNotContain("status=sent", host.Output, StringComparison.Ordinal);
    }

    [DnssecFact]
    public async Task A_server_without_starttls_is_deferred_when_tlsa_records_exist()
    {
        // No Certificate: the peer offers no STARTTLS, as an attacker stripping it would.
        var published = TestCertificates.SelfSigned("mx.secure.test");
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx A 127.0.0.1", $"{TlsaName} TLSA {DaneEe(published)}"));
        await SubmitAsync("dane no starttls", "bob@secure.test");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = LineWith(host, "status=deferred");
        log.WriteLine(line);
        Assert.Contains("dsn=4.7.4, status=deferred", line, StringComparison.Ordinal);
        Assert.Contains("TLS is required, but was not offered", line, StringComparison.Ordinal);
        Assert.Empty(_peer.Received);
    }

    [DnssecFact]
    public async Task A_chain_to_the_dane_ta_anchor_naming_the_mx_host_gets_the_mail()
    {
        // The anchor is the issuing intermediate the server sends (RFC 7672 3.1.2), as with "2 1 1" for a public CA's issuer.
        var root = TestCertificates.Authority("Secure Test Root");
        var ca = TestCertificates.Authority("Secure Test Mail CA", root);
        _peer.Certificate = TestCertificates.Issue(ca, "mx.secure.test");
        _peer.ChainCertificates.Add(ca);
        var anchor = "2 1 1 " + Convert.ToHexString(SHA256.HashData(ca.PublicKey.ExportSubjectPublicKeyInfo()));
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx A 127.0.0.1", $"{TlsaName} TLSA {anchor}"));
        await SubmitAsync("dane ta", "bob@secure.test");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        log.WriteLine(LineWith(host, "status=sent"));
        Assert.Equal([true], _peer.ReceivedOverTls);
    }

    [DnssecFact]
    public async Task Tlsa_records_in_an_unsigned_zone_are_ignored_and_the_mail_goes_out_opportunistically()
    {
        _peer.Certificate = TestCertificates.SelfSigned("mx.insecure.test");
        var published = TestCertificates.SelfSigned("mx.insecure.test");
        await using var host = await StartAsync(new TestZone("insecure.test", ZoneSecurity.Unsigned, "@ MX 10 mx", "mx A 127.0.0.1", $"{TlsaName} TLSA {DaneEe(published)}"));
        await SubmitAsync("insecure tlsa", "bob@insecure.test");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        log.WriteLine(LineWith(host, "status=sent"));
        Assert.Equal([true], _peer.ReceivedOverTls);
    }

    [DnssecFact]
    public async Task A_tlsa_lookup_that_fails_validation_in_a_signed_zone_defers_without_connecting()
    {
        // The MX and its address validate; its TLSA name leads into a zone whose signatures do not (SERVFAIL).
        _peer.Certificate = TestCertificates.SelfSigned("mx.secure.test");
        await using var host = await StartAsync(
            new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx A 127.0.0.1", $"{TlsaName} CNAME tlsa.bogus.test."),
            new TestZone("bogus.test", ZoneSecurity.Bogus, $"tlsa TLSA {DaneEe(_peer.Certificate)}"));
        await SubmitAsync("tlsa servfail", "bob@secure.test");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = LineWith(host, "status=deferred");
        log.WriteLine(line);
        Assert.Contains("dsn=4.7.5, status=deferred", line, StringComparison.Ordinal);
        Assert.Contains($"TLSA lookup of _{_peer.Port}._tcp.mx.secure.test failed", line, StringComparison.Ordinal);
        Assert.Equal(0, _peer.Connections);
    }

    [DnssecFact]
    public async Task Only_unusable_tlsa_records_still_require_tls_with_any_certificate()
    {
        // RFC 7672 3.1.3 and 2.2: PKIX-EE is unusable for SMTP, but its presence says the server does TLS.
        _peer.Certificate = TestCertificates.SelfSigned("mx.secure.test");
        var pkixEe = "1 1 1 " + Convert.ToHexString(SHA256.HashData(TestCertificates.SelfSigned("x").PublicKey.ExportSubjectPublicKeyInfo()));
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx A 127.0.0.1", $"{TlsaName} TLSA {pkixEe}"));
        await SubmitAsync("unusable tlsa", "bob@secure.test");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Equal([true], _peer.ReceivedOverTls);
    }

    [DnssecFact]
    public async Task Tlsa_of_an_mx_host_named_by_an_unsigned_mx_answer_is_not_used()
    {
        // RFC 7672 2.2.1: the MX answer itself must validate; else an attacker could have named the host.
        _peer.Certificate = TestCertificates.SelfSigned("mx.secure.test");
        var published = TestCertificates.SelfSigned("mx.secure.test");
        await using var host = await StartAsync(
            new TestZone("insecure.test", ZoneSecurity.Unsigned, "@ MX 10 mx.secure.test."),
            new TestZone("secure.test", ZoneSecurity.Signed, "mx A 127.0.0.1", $"{TlsaName} TLSA {DaneEe(published)}"));
        await SubmitAsync("insecure mx", "bob@insecure.test");
        await host.WaitForOutputAsync("status=sent", TimeSpan.FromSeconds(30));
        Assert.Equal([true], _peer.ReceivedOverTls);
    }

    [DnssecFact]
    public async Task The_domain_itself_as_implicit_mx_uses_its_own_tlsa_records()
    {
        _peer.Certificate = TestCertificates.SelfSigned("secure.test");
        var published = TestCertificates.SelfSigned("secure.test");
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ A 127.0.0.1", $"_{_peer.Port}._tcp TLSA {DaneEe(published)}"));
        await SubmitAsync("implicit mx", "bob@secure.test");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = LineWith(host, "status=deferred");
        log.WriteLine(line);
        Assert.Contains("relay=secure.test[127.0.0.1]", line, StringComparison.Ordinal);
        Assert.Contains("dsn=4.7.5, status=deferred", line, StringComparison.Ordinal);
        Assert.Empty(_peer.Received);
    }

    [DnssecFact]
    public async Task An_mx_host_that_is_a_validated_cname_uses_the_tlsa_records_of_the_expanded_name_first()
    {
        // RFC 7672 2.2.2: mx.secure.test is an alias of real.secure.test; the TLSA records at the expanded name match the
        // server, those at the alias do not (a stale record): the expanded name's are the ones used.
        _peer.Certificate = TestCertificates.SelfSigned("real.secure.test");
        var stale = TestCertificates.SelfSigned("mx.secure.test");
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx CNAME real", "real A 127.0.0.1",
            $"_{_peer.Port}._tcp.real TLSA {DaneEe(_peer.Certificate)}", $"{TlsaName} TLSA {DaneEe(stale)}"));
        await SubmitAsync("dane cname", "bob@secure.test");
        await host.WaitForOutputAsync("status=", TimeSpan.FromSeconds(30));
        var line = LineWith(host, "status=");
        log.WriteLine(line);
        Assert.Contains("to=<bob@secure.test>, relay=mx.secure.test[127.0.0.1]", line, StringComparison.Ordinal);
        Assert.Contains("status=sent", line, StringComparison.Ordinal);
        Assert.Equal([true], _peer.ReceivedOverTls);
    }

    [DnssecFact]
    public async Task A_cname_mx_whose_expanded_name_has_no_tlsa_falls_back_to_the_alias_records()
    {
        _peer.Certificate = TestCertificates.SelfSigned("mx.secure.test");
        var published = TestCertificates.SelfSigned("mx.secure.test");
        await using var host = await StartAsync(new TestZone("secure.test", ZoneSecurity.Signed, "@ MX 10 mx", "mx CNAME real", "real A 127.0.0.1",
            $"{TlsaName} TLSA {DaneEe(published)}"));
        await SubmitAsync("dane cname fallback", "bob@secure.test");
        await host.WaitForOutputAsync("status=deferred", TimeSpan.FromSeconds(30));
        var line = LineWith(host, "status=deferred");
        log.WriteLine(line);
        // The alias's record applies (and does not match this server): DANE was not dropped for want of records at the target.
        Assert.Contains("dsn=4.7.5, status=deferred", line, StringComparison.Ordinal);
        Assert.Contains("DANE: no TLSA record matches the certificate", line, StringComparison.Ordinal);
        Assert.Empty(_peer.Received);
    }
}
