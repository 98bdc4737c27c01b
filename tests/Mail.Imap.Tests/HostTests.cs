using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using Mail.Imap.Messages;
using Mail.Testing;

namespace Mail.Imap.Tests;

/// <summary>The real `mail` process: `user add --password-hash` and the Imap:CacheDirectory setting.</summary>
public sealed class HostTests
{
    private static async Task<string> DovecotHashAsync(string password)
    {
        if (File.Exists("/usr/bin/doveadm"))
        {
            var made = await ExternalProcess.RunAsync("/usr/bin/doveadm", ["pw", "-s", "SHA512-CRYPT", "-p", password]);
            if (made.ExitCode == 0) return made.StdOut.Trim();
        }
        var ssl = await ExternalProcess.RunAsync("openssl", ["passwd", "-6", password]);
        return "{SHA512-CRYPT}" + ssl.StdOut.Trim();
    }

    [Fact]
    public async Task User_add_with_a_password_hash_then_login_and_the_envelope_cache_is_written_to_the_cache_directory()
    {
        using var data = new TempData();
        await HostProcess.AdminOkAsync(data.Path, "domain", "add", "example.org");
        var hash = await DovecotHashAsync("from dovecot");

        var bad = await HostProcess.AdminAsync(data.Path, "user", "add", "erin@example.org", "--password-hash", "not-a-hash");
        Assert.Equal(65, bad.ExitCode);
        Assert.Contains("--password-hash", bad.StdErr, StringComparison.Ordinal);
        var truncated = await HostProcess.AdminAsync(data.Path, "user", "add", "erin@example.org", "--password-hash", hash[..^3]);
        Assert.Equal(65, truncated.ExitCode);
        Assert.Contains("--password-hash", truncated.StdErr, StringComparison.Ordinal);
        await HostProcess.AdminOkAsync(data.Path, "user", "add", "erin@example.org", "--password-hash", hash);

        var cache = Path.Combine(data.Path, "my-imap-cache");
        await using (var host = await HostProcess.StartAsync(data.Path, $"--Imap:CacheDirectory={cache}"))
        {
            using (var smtp = new MailKit.Net.Smtp.SmtpClient())
            {
                await smtp.ConnectAsync("127.0.0.1", host.SmtpPort, SecureSocketOptions.None);
                for (var i = 0; i < 3; i++)
                {
                    var m = new MimeKit.MimeMessage { Subject = $"hello {i}", Body = new MimeKit.TextPart("plain") { Text = "hi" } };
                    m.From.Add(new MimeKit.MailboxAddress("Bob", "bob@example.net"));
                    m.To.Add(new MimeKit.MailboxAddress("Erin", "erin@example.org"));
                    await smtp.SendAsync(m);
                }
                await smtp.DisconnectAsync(true);
            }
            await HostProcess.WaitForEmptyQueueAsync(data.Path, TimeSpan.FromSeconds(60));

            using var client = new ImapClient { Timeout = 30_000 };
            await client.ConnectAsync("127.0.0.1", host.ImapPort, SecureSocketOptions.None);
            await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("erin@example.org", "from Dovecot"));
            await client.AuthenticateAsync("erin@example.org", "from dovecot");
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope);
            Assert.Equal(["hello 0", "hello 1", "hello 2"], summaries.Select(s => s.Envelope!.Subject).Order(StringComparer.Ordinal));
            await client.DisconnectAsync(true);
            Assert.Equal(0, await host.TerminateAsync()); // the cache writer finishes on shutdown
        }
        // The INBOX's cache file holds the three ENVELOPEs (UTF-16 text, see MailboxCacheFile).
        var box = await File.ReadAllBytesAsync(Directory.GetFiles(Path.Combine(cache, Mail.Imap.Session.MailboxCacheFiles.DirectoryName), "*.box").Single());
        foreach (var subject in new[] { "hello 0", "hello 1", "hello 2" })
            Assert.True(box.AsSpan().IndexOf(System.Text.Encoding.Unicode.GetBytes(subject)) >= 0, subject);
    }

    [Fact]
    public async Task An_unusable_cache_directory_stops_mail_serve_with_exit_code_78_naming_the_setting()
    {
        using var data = new TempData();
        var file = Path.Combine(data.Path, "a-file");
        await File.WriteAllTextAsync(file, "");
        var r = await HostProcess.RunAsync(["serve", "--data", data.Path, $"--Imap:CacheDirectory={Path.Combine(file, "cache")}",
             "--Smtp:Listeners:0:Endpoint=127.0.0.1:0", "--Smtp:Listeners:1:Endpoint=127.0.0.1:0", "--Smtp:Listeners:2:Endpoint=127.0.0.1:0",
             "--Imap:Listeners:0:Endpoint=127.0.0.1:0", "--Imap:Listeners:1:Endpoint=127.0.0.1:0"]);
        Assert.Equal(78, r.ExitCode);
        Assert.Contains("Imap:CacheDirectory", r.StdErr + r.StdOut, StringComparison.Ordinal);
    }
}
