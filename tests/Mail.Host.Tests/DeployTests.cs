using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Mail.Testing;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Mail.Host.Tests;

/// <summary>
/// deploy/: the systemd unit passes `systemd-analyze verify` with no complaint and keeps its hardening, and the
/// settings example is what `mail serve` runs with (its listeners on the standard ports, a real certificate from
/// PEM files, as certbot writes them).
/// </summary>
[Collection("host")]
public sealed class DeployTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private static string Deploy(string name) => Path.Combine(HostProcess.RepositoryRoot, "deploy", name);

    [Fact]
    public async Task Systemd_unit_verifies_and_is_hardened()
    {
        var unit = await File.ReadAllTextAsync(Deploy("mail.service"));
        foreach (var line in new[]
                 {
                     "User=mail", "ProtectSystem=strict", "ReadWritePaths=/var/lib/mail", "NoNewPrivileges=yes",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "PrivateTmp=yes",
                     "ExecStart=/opt/mail/mail serve", "Environment=MAIL_DataDirectory=/var/lib/mail",
                 })
            Assert.Contains("\n" + line + "\n", unit, StringComparison.Ordinal);
        Assert.True(File.Exists("/usr/bin/systemd-analyze"), "systemd-analyze is missing: Debian package systemd (test.sh installs it)");
        // systemd-analyze checks that ExecStart's program exists: the unit as installed, with a program that does.
        var copy = Path.Combine(_data.Path, "mail.service");
        await File.WriteAllTextAsync(copy, unit.Replace("ExecStart=/opt/mail/mail serve", "ExecStart=/bin/true serve", StringComparison.Ordinal));
        var verify = await ExternalProcess.RunAsync("systemd-analyze", ["verify", copy], null, TimeSpan.FromSeconds(60));
        // A misspelt directive or value is only a warning line (exit 0): no output at all is the pass.
        Assert.True(verify.ExitCode == 0 && verify.StdErr.Trim().Length == 0 && verify.StdOut.Trim().Length == 0, verify.StdOut + verify.StdErr);

        // The check can fail: a bad value is reported.
        await File.WriteAllTextAsync(copy, unit.Replace("ExecStart=/opt/mail/mail serve", "ExecStart=/bin/true serve", StringComparison.Ordinal)
            .Replace("ProtectSystem=strict", "ProtectSystem=strictly", StringComparison.Ordinal));
        var bad = await ExternalProcess.RunAsync("systemd-analyze", ["verify", copy], null, TimeSpan.FromSeconds(60));
        Assert.Contains("Failed to parse protect system value", bad.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settings_example_serves_the_standard_ports_with_a_real_certificate()
    {
        using var json = JsonDocument.Parse(await File.ReadAllBytesAsync(Deploy("appsettings.json")));
        var settings = new List<(string Key, string Value)>();
        Flatten(json.RootElement, "", settings);
        var ports = settings.Where(s => s.Key.EndsWith(":Endpoint", StringComparison.Ordinal)).Select(s => int.Parse(s.Value[(s.Value.LastIndexOf(':') + 1)..])).ToHashSet();
        Assert.Equal(new HashSet<int> { 25, 465, 587, 143, 993, 110, 995, 4190 }, ports);
        Assert.Contains(settings, s => s.Key == "Tls:CertificatePath");

        // A certificate for the example's host name as PEM files, in place of certbot's.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=mail.example.org", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("mail.example.org");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90));
        var certPath = Path.Combine(_data.Path, "fullchain.pem");
        var keyPath = Path.Combine(_data.Path, "privkey.pem");
        await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());

        // The example as given, except what a test cannot have: port numbers below 1024 (the host picks free ones)
        // and the certificate's place.
        var data = Path.Combine(_data.Path, "data");
        var args = settings.Where(s => !s.Key.EndsWith(":Endpoint", StringComparison.Ordinal) && s.Key != "DataDirectory")
            .Select(s => s.Key switch
            {
                "Tls:CertificatePath" => $"--{s.Key}={certPath}",
                "Tls:KeyPath" => $"--{s.Key}={keyPath}",
                _ => $"--{s.Key}={s.Value}",
            }).ToArray();
        await using var host = await HostProcess.StartAsync(data, args);
        X509Certificate? served = null;
        using var imap = new ImapClient();
        imap.ServerCertificateValidationCallback = (_, c, _, _) =>
        {
            served = c is null ? null : X509CertificateLoader.LoadCertificate(c.GetRawCertData());
            return served is X509Certificate2 s && s.Thumbprint == certificate.Thumbprint;
        };
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, SecureSocketOptions.StartTls);
        Assert.NotNull(served);
        Assert.Equal(certificate.Thumbprint, ((X509Certificate2)served!).Thumbprint);
        await imap.DisconnectAsync(true);
    }

    private static void Flatten(JsonElement element, string prefix, List<(string, string)> into)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in element.EnumerateObject()) Flatten(p.Value, prefix.Length == 0 ? p.Name : prefix + ":" + p.Name, into);
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray()) Flatten(item, prefix + ":" + i++, into);
                break;
            default:
                into.Add((prefix, element.ToString()));
                break;
        }
    }
}
