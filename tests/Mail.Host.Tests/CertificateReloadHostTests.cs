using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>
/// `mail serve` with a certificate file (Tls:CertificatePath, PFX or PEM with Tls:KeyPath): the file is replaced the
/// way certbot or a secret volume does it (a new file renamed over the old one), and the next STARTTLS, SMTP and IMAP
/// alike, presents the new certificate, read by MailKit's clients, without a restart. A broken replacement keeps the
/// certificate in use, with one warning.
/// </summary>
[Collection("host")]
public sealed class CertificateReloadHostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Replaced_pfx_is_presented_by_the_next_smtp_and_imap_starttls()
    {
        var path = Path.Combine(_data.Path, "mail.pfx");
        var first = TestCertificates.SelfSigned("first.example.org");
        var second = TestCertificates.SelfSigned("second.example.org");
        await ReplaceAsync(path, first.Export(X509ContentType.Pkcs12, "pw"));
        await using var host = await HostProcess.StartAsync(_data.Path, $"--Tls:CertificatePath={path}", "--Tls:CertificatePassword=pw", "--Tls:ReloadInterval=00:00:00.200");

        Assert.Equal(first.Thumbprint, await SmtpStartTlsAsync(host));
        Assert.Equal(first.Thumbprint, await ImapStartTlsAsync(host));

        await ReplaceAsync(path, second.Export(X509ContentType.Pkcs12, "pw"));
        await WaitForAsync(host, second.Thumbprint);
        Assert.Equal(second.Thumbprint, await ImapStartTlsAsync(host));
        Assert.Contains("certificate from file " + path + " reloaded: CN=second.example.org", host.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broken_replacement_keeps_the_certificate_in_use_then_the_next_good_one_is_taken()
    {
        var certPath = Path.Combine(_data.Path, "fullchain.pem");
        var keyPath = Path.Combine(_data.Path, "privkey.pem");
        var first = TestCertificates.SelfSigned("first.example.org");
        var third = TestCertificates.SelfSigned("third.example.org");
        await WritePemAsync(first, certPath, keyPath);
        await using var host = await HostProcess.StartAsync(_data.Path, $"--Tls:CertificatePath={certPath}", $"--Tls:KeyPath={keyPath}", "--Tls:ReloadInterval=00:00:00.200");
        Assert.Equal(first.Thumbprint, await SmtpStartTlsAsync(host));

        // A certificate whose key is not the key file's: refused, one warning naming the settings, the old one kept.
        await ReplaceAsync(certPath, System.Text.Encoding.ASCII.GetBytes(third.ExportCertificatePem()));
        await host.WaitForOutputAsync("could not be reloaded", TimeSpan.FromSeconds(15));
        await Task.Delay(1000);
        Assert.Equal(first.Thumbprint, await SmtpStartTlsAsync(host));
        Assert.Equal(first.Thumbprint, await ImapStartTlsAsync(host));
        var warnings = host.Output.Split('\n').Where(l => l.Contains("could not be reloaded", StringComparison.Ordinal)).ToList();
        Assert.Single(warnings);
        Assert.Contains("the one in use is kept", warnings[0], StringComparison.Ordinal);
        Assert.Contains("(check Tls:CertificatePath, Tls:KeyPath)", warnings[0], StringComparison.Ordinal);

        await WritePemAsync(third, certPath, keyPath);
        await WaitForAsync(host, third.Thumbprint);
        Assert.Equal(third.Thumbprint, await ImapStartTlsAsync(host));
    }

    /// <summary>Writes beside, then renames over: the reader never sees half a file (what certbot and secret volumes do).</summary>
    private static async Task ReplaceAsync(string path, byte[] content)
    {
        var temp = path + ".new";
        await File.WriteAllBytesAsync(temp, content);
        File.Move(temp, path, overwrite: true);
    }

    private static async Task WritePemAsync(X509Certificate2 certificate, string certPath, string keyPath)
    {
        using var key = certificate.GetECDsaPrivateKey()!;
        await ReplaceAsync(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()));
        await ReplaceAsync(certPath, System.Text.Encoding.ASCII.GetBytes(certificate.ExportCertificatePem()));
    }

    private static async Task WaitForAsync(HostProcess host, string thumbprint) =>
        await HostProcess.PollAsync(() => SmtpStartTlsAsync(host), t => t == thumbprint, TimeSpan.FromSeconds(15),
            $"SMTP STARTTLS never presented {thumbprint}\n{host.Output}");

    private static async Task<string> SmtpStartTlsAsync(HostProcess host)
    {
        string? presented = null;
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => (presented = Thumbprint(c)) is not null };
        await client.ConnectAsync("127.0.0.1", host.SmtpPort, SecureSocketOptions.StartTls);
        await client.DisconnectAsync(true);
        return presented ?? "none";
    }

    private static async Task<string> ImapStartTlsAsync(HostProcess host)
    {
        string? presented = null;
        using var client = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => (presented = Thumbprint(c)) is not null };
        await client.ConnectAsync("127.0.0.1", host.ImapPort, SecureSocketOptions.StartTls);
        await client.DisconnectAsync(true);
        return presented ?? "none";
    }

    private static string? Thumbprint(X509Certificate? c) => c is null ? null : Convert.ToHexString(SHA1.HashData(c.GetRawCertData()));
}
