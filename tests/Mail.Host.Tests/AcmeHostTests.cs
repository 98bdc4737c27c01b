using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mail.Testing;
using Mail.Testing.Dns;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;

namespace Mail.Host.Tests;

/// <summary>
/// `mail serve` with Tls:Acme:* against a real ACME CA, Pebble (Debian package pebble), on loopback. Pebble's
/// validation authority resolves the names through a loopback DNS server to 127.0.0.1 and fetches the HTTP-01 key
/// authorization from our responder (no PEBBLE_VA_ALWAYS_VALID), and refuses a share of good nonces as badNonce.
/// The certificate obtained is read by MailKit's clients on SMTP STARTTLS, 465, IMAP STARTTLS and 993, checked to
/// chain to Pebble's root, and renewed before expiry without a restart.
/// </summary>
[Collection("host")]
public sealed class AcmeHostTests : IDisposable
{
    private const string Host = "mail.example.test";
    private const string Autoconfig = "autoconfig.example.test";
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Certificate_from_pebble_is_presented_on_starttls_465_and_993_and_renewed_without_restart()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.Add(Host, DnsRecordType.A, "127.0.0.1");
        dns.Add(Autoconfig, DnsRecordType.A, "127.0.0.1");
        var httpPort = FreePort.Tcp();
        // Certificates for an hour, renewed with 58.5 minutes left: the first renewal comes about 90 s after issuance.
        await using var pebble = await PebbleProcess.StartAsync(dns.EndPoint, httpPort, TimeSpan.FromHours(1), nonceRejectPercent: 20);
        var root = await pebble.RootAsync();
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.test");
        var (submissions, imaps) = (FreePort.Tcp(), FreePort.Tcp());
        await using var host = await HostProcess.StartAsync(_data.Path,
            $"--Smtp:HostName={Host}", $"--Imap:HostName={Host}",
            $"--Smtp:Listeners:2:Endpoint=127.0.0.1:{submissions}", $"--Imap:Listeners:1:Endpoint=127.0.0.1:{imaps}",
            $"--Autoconfig:Endpoint=127.0.0.1:{FreePort.Tcp()}",
            $"--Tls:Acme:Directory={pebble.Directory}", $"--Tls:Acme:DirectoryCaPath={pebble.CaPath}",
            "--Tls:Acme:Email=postmaster@example.test", $"--Tls:Acme:HttpEndpoint=127.0.0.1:{httpPort}",
            "--Tls:Acme:RenewBefore=00:58:30");

        var first = await WaitForAsync(() => SmtpAsync(host.SmtpPort, SecureSocketOptions.StartTls, root), p => p.ChainsToRoot, host, pebble, "a certificate from Pebble on SMTP STARTTLS");
        // The default names: Smtp:HostName and autoconfig.DOMAIN for the local domain (Autoconfig:Endpoint is set).
        Assert.Equal([Autoconfig, Host], first.Names.Order(StringComparer.Ordinal));
        Assert.Contains("Pebble Intermediate CA", first.Issuer, StringComparison.Ordinal);
        Assert.Equal(first.Serial, (await SmtpAsync(submissions, SecureSocketOptions.SslOnConnect, root)).Serial);
        Assert.Equal(first.Serial, (await ImapAsync(host.ImapPort, SecureSocketOptions.StartTls, root)).Serial);
        var onImaps = await ImapAsync(imaps, SecureSocketOptions.SslOnConnect, root);
        Assert.Equal(first.Serial, onImaps.Serial);
        Assert.True(onImaps.ChainsToRoot);
        // Real validation: Pebble's VA fetched the key authorization from our responder for both names.
        Assert.Contains($"ACME: HTTP-01 challenge answered for {Host}", host.Output, StringComparison.Ordinal);
        Assert.Contains($"ACME: HTTP-01 challenge answered for {Autoconfig}", host.Output, StringComparison.Ordinal);
        var accountKey = Path.Combine(_data.Path, "acme", "account.pem");
        Assert.True(File.Exists(accountKey), host.Output);
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(accountKey));

        var renewed = await WaitForAsync(() => ImapAsync(imaps, SecureSocketOptions.SslOnConnect, root), p => p.Serial != first.Serial, host, pebble,
            "a renewed certificate on 993", TimeSpan.FromMinutes(4));
        Assert.True(renewed.ChainsToRoot);
        Assert.Equal([Autoconfig, Host], renewed.Names.Order(StringComparer.Ordinal));
        Assert.Equal(renewed.Serial, (await SmtpAsync(host.SmtpPort, SecureSocketOptions.StartTls, root)).Serial);
        Assert.False(host.HasExited);
        Assert.Contains("TLS: certificate from ACME reloaded", host.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("ACME: no certificate", host.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// The defaults' layout: Tls:Acme:HttpEndpoint and Autoconfig:Endpoint are one address (0.0.0.0:80), so one listener
    /// carries both parts. Pebble's validation fetches the key authorizations through that listener, which still serves
    /// autoconfig; the MTA-STS policy is answered only on Autoconfig:HttpsEndpoint (404 on the shared plain listener),
    /// and no challenge answers there.
    /// </summary>
    [Fact]
    public async Task Acme_challenge_and_autoconfig_share_one_listener_as_the_defaults_put_them()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.Add(Host, DnsRecordType.A, "127.0.0.1");
        dns.Add(Autoconfig, DnsRecordType.A, "127.0.0.1");
        dns.Add("mta-sts.example.test", DnsRecordType.A, "127.0.0.1");
        var (shared, https) = (FreePort.Tcp(), FreePort.Tcp());
        await using var pebble = await PebbleProcess.StartAsync(dns.EndPoint, shared, TimeSpan.FromHours(1));
        var root = await pebble.RootAsync();
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.test");
        await using var host = await HostProcess.StartAsync(_data.Path,
            $"--Smtp:HostName={Host}", $"--Imap:HostName={Host}",
            $"--Autoconfig:Endpoint=127.0.0.1:{shared}", $"--Tls:Acme:HttpEndpoint=127.0.0.1:{shared}",
            $"--Autoconfig:HttpsEndpoint=127.0.0.1:{https}", "--MtaSts:Mode=enforce", "--MtaSts:MaxAge=86400",
            $"--Tls:Acme:Directory={pebble.Directory}", $"--Tls:Acme:DirectoryCaPath={pebble.CaPath}",
            "--Tls:Acme:Email=postmaster@example.test");
        Assert.Contains($"listening http autoconfig 127.0.0.1:{shared}", host.Output, StringComparison.Ordinal);
        Assert.Contains($"listening http acme-challenge 127.0.0.1:{shared}", host.Output, StringComparison.Ordinal);

        // Pebble validated every name over the shared listener: a certificate that chains to its root.
        var presented = await WaitForAsync(() => SmtpAsync(host.SmtpPort, SecureSocketOptions.StartTls, root), p => p.ChainsToRoot, host, pebble, "a certificate from Pebble on SMTP STARTTLS");
        Assert.Contains(Autoconfig, presented.Names);
        Assert.Contains($"ACME: HTTP-01 challenge answered for {Host}", host.Output, StringComparison.Ordinal);
        Assert.Contains($"ACME: HTTP-01 challenge answered for {Autoconfig}", host.Output, StringComparison.Ordinal);

        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{shared}") };
        using (var r = await plain.GetAsync(new Uri("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=postmaster%40example.test", UriKind.Relative)))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("text/xml", r.Content.Headers.ContentType?.MediaType);
            Assert.Contains(Host, await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        // A token no authorization is pending for (all are done): 404, as for a path nothing serves.
        using (var r = await plain.GetAsync(new Uri("/.well-known/acme-challenge/unknown-token", UriKind.Relative)))
            Assert.Equal(System.Net.HttpStatusCode.NotFound, r.StatusCode);
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/.well-known/mta-sts.txt", UriKind.Relative)) { Headers = { Host = "mta-sts.example.test" } })
        using (var r = await plain.SendAsync(request))
            Assert.Equal(System.Net.HttpStatusCode.NotFound, r.StatusCode);

        // The HTTPS listener, with the certificate Pebble issued: the policy, and no challenge route.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, chain, _) => c is not null && Read(c, chain, root)?.ChainsToRoot == true };
        using var secure = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{https}") };
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/.well-known/mta-sts.txt", UriKind.Relative)) { Headers = { Host = "mta-sts.example.test" } })
        using (var r = await secure.SendAsync(request))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, r.StatusCode);
            Assert.Equal($"version: STSv1\r\nmode: enforce\r\nmx: {Host}\r\nmax_age: 86400\r\n", await r.Content.ReadAsStringAsync());
        }
        using (var r = await secure.GetAsync(new Uri("/.well-known/acme-challenge/unknown-token", UriKind.Relative)))
            Assert.Equal(System.Net.HttpStatusCode.NotFound, r.StatusCode);
        Assert.False(host.HasExited);
    }

    [Fact]
    public async Task Validation_the_ca_refuses_is_one_line_retried_and_the_certificate_in_use_keeps_serving()
    {
        // No DNS record for the name: Pebble's VA cannot resolve it and the authorization turns invalid.
        await using var dns = await TestDnsServer.StartAsync();
        var httpPort = FreePort.Tcp();
        await using var pebble = await PebbleProcess.StartAsync(dns.EndPoint, httpPort, TimeSpan.FromHours(1));
        var root = await pebble.RootAsync();
        await using var host = await HostProcess.StartAsync(_data.Path,
            $"--Smtp:HostName={Host}", "--Tls:Acme:Names=unresolved.example.test",
            $"--Tls:Acme:Directory={pebble.Directory}", $"--Tls:Acme:DirectoryCaPath={pebble.CaPath}",
            $"--Tls:Acme:HttpEndpoint=127.0.0.1:{httpPort}", "--Tls:Acme:RetryInterval=00:00:01");

        await HostProcess.PollAsync(() => Task.FromResult(host.Output), o => Warnings(o).Count >= 2, TimeSpan.FromSeconds(120),
            "no second ACME warning (the retry)\n" + host.Output + "\n" + pebble.Output);
        var warnings = Warnings(host.Output);
        Assert.All(warnings, w =>
        {
            Assert.Contains("unresolved.example.test", w, StringComparison.Ordinal);
            Assert.Contains("the certificate in use is kept, next attempt in", w, StringComparison.Ordinal);
            Assert.EndsWith("(check Tls:Acme)", w.TrimEnd(), StringComparison.Ordinal);
        });
        // The CA's RFC 7807 problem, its type without the URN prefix.
        Assert.Matches("(dns|connection|unauthorized|malformed|rejectedIdentifier)", warnings[0]);
        Assert.DoesNotContain("   at ", host.Output, StringComparison.Ordinal);
        Assert.False(host.HasExited);
        var presented = await SmtpAsync(host.SmtpPort, SecureSocketOptions.StartTls, root);
        Assert.False(presented.ChainsToRoot);
        Assert.Equal($"CN={Host}", presented.Issuer);
    }

    [Theory]
    [InlineData("--Tls:Acme:Directory=http://acme.example/dir", "Tls:Acme:Directory", "is not an https URL")]
    [InlineData("--Tls:Acme:Email=postmaster", "Tls:Acme:Email", "is not an email address")]
    [InlineData("--Tls:Acme:Challenge=tls-alpn-01", "Tls:Acme:Challenge", "not supported yet")]
    [InlineData("--Tls:Acme:Challenge=dns-01", "Tls:Acme:Challenge", "must be http-01")]
    [InlineData("--Tls:Acme:Names=*.example.org", "Tls:Acme:Names", "is not a host name")]
    [InlineData("--Tls:Acme:RenewBefore=-1.00:00:00", "Tls:Acme:RenewBefore", "must be a positive duration")]
    [InlineData("--Tls:Acme:HttpEndpoint=80", "Tls:Acme:HttpEndpoint", "is not an address and port")]
    [InlineData("--Tls:Acme:DirectoryCaPath=/nonexistent/ca.pem", "Tls:Acme:DirectoryCaPath", "cannot be read")]
    [InlineData("--Tls:CertificatePath=/etc/cert.pem", "Tls:Acme:Directory, Tls:CertificatePath", "set one")]
    public async Task Bad_acme_setting_is_one_line_naming_it(string argument, string setting, string why)
    {
        string[] directory = setting == "Tls:Acme:Directory" ? [] : ["--Tls:Acme:Directory=https://acme.example/dir"];
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, .. AnyPorts, .. directory, argument]);
        Assert.True(r.ExitCode == 78, $"exit code {r.ExitCode}:\n{r.StdErr}\n{r.StdOut}");
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "stderr is not one line:\n" + r.StdErr);
        Assert.StartsWith("mail: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(setting, lines[0], StringComparison.Ordinal);
        Assert.Contains(why, lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Acme_setting_without_a_directory_names_the_directory_setting()
    {
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, .. AnyPorts, "--Tls:Acme:Email=postmaster@example.org"]);
        Assert.Equal(78, r.ExitCode);
        Assert.Contains("Tls:Acme:Email is set without Tls:Acme:Directory", r.StdErr, StringComparison.Ordinal);
    }

    private static readonly string[] AnyPorts =
    [
        "--Smtp:Listeners:0:Endpoint=127.0.0.1:0", "--Smtp:Listeners:1:Endpoint=127.0.0.1:0", "--Smtp:Listeners:2:Endpoint=127.0.0.1:0",
        "--Imap:Listeners:0:Endpoint=127.0.0.1:0", "--Imap:Listeners:1:Endpoint=127.0.0.1:0",
        "--Pop3:Listeners:0:Endpoint=127.0.0.1:0", "--Pop3:Listeners:1:Endpoint=127.0.0.1:0",
    ];

    private static List<string> Warnings(string output) =>
        [.. output.Split('\n').Where(l => l.Contains("ACME: no certificate from", StringComparison.Ordinal))];

    /// <summary>What a client saw: the leaf's serial, issuer and DNS names, and whether it chains to Pebble's root
    /// through the intermediates the server sent.</summary>
    private sealed record Presented(string Serial, string Issuer, IReadOnlyList<string> Names, bool ChainsToRoot);

    private static async Task<Presented> WaitForAsync(Func<Task<Presented>> read, Func<Presented, bool> done, HostProcess host, PebbleProcess pebble, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromMinutes(2));
        Presented? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await read();
            if (done(last)) return last;
            await Task.Delay(500);
        }
        throw new Xunit.Sdk.XunitException($"never saw {what}; last {last}\n--- mail\n{host.Output}\n--- pebble\n{pebble.Output}");
    }

    private static async Task<Presented> SmtpAsync(int port, SecureSocketOptions options, X509Certificate2 root)
    {
        Presented? seen = null;
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, c, chain, _) => (seen = Read(c, chain, root)) is not null };
        await client.ConnectAsync("127.0.0.1", port, options);
        await client.DisconnectAsync(true);
        return seen!;
    }

    private static async Task<Presented> ImapAsync(int port, SecureSocketOptions options, X509Certificate2 root)
    {
        Presented? seen = null;
        using var client = new ImapClient { ServerCertificateValidationCallback = (_, c, chain, _) => (seen = Read(c, chain, root)) is not null };
        await client.ConnectAsync("127.0.0.1", port, options);
        await client.DisconnectAsync(true);
        return seen!;
    }

    private static Presented? Read(X509Certificate? certificate, X509Chain? sent, X509Certificate2 root)
    {
        if (certificate is null) return null;
        var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (sent is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(sent.ChainPolicy.ExtraStore);
            foreach (var element in sent.ChainElements) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        return new Presented(leaf.SerialNumber, leaf.Issuer, names, chain.Build(leaf));
    }
}
