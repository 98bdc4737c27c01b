using System.Text.Json;
using Mail.Testing;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MimeKit;

namespace Mail.Host.Tests;

/// <summary>
/// `mail backup` of a data directory while `mail serve` runs and takes mail over SMTP, `mail restore` into a fresh
/// directory, and a new `mail serve` on it: the same mail over IMAP (MailKit), the users log in, the envelopes that
/// were still queued are delivered, the DKIM key keeps its 0600.
/// </summary>
[Collection("host")]
public sealed class BackupHostTests : IDisposable
{
    private readonly TempData _data = new();
    private readonly TempData _scratch = new();

    public void Dispose()
    {
        _data.Dispose();
        _scratch.Dispose();
    }

    private static UnixFileMode ModeOf(string path) => OperatingSystem.IsWindows() ? 0 : File.GetUnixFileMode(path);

    private static async Task SendAsync(int port, string subject)
    {
        using var smtp = new MailKit.Net.Smtp.SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("bob@example.net"));
        message.To.Add(MailboxAddress.Parse("alice@example.org"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "body of " + subject + "\n" + new string('x', 2000) };
        await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
    }

    [Fact]
    public async Task Backup_while_serving_restores_into_a_server_with_the_same_mail()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org", "--algorithm", "ed25519", "--selector", "s1");
        var key = Directory.GetFiles(Path.Combine(_data.Path, "dkim"), "*.pem", SearchOption.AllDirectories).Single();
        var keyRelative = Path.GetRelativePath(_data.Path, key);

        // Delivered before the backup: in INBOX (SQLite rows + message files).
        await using (var host = await HostProcess.StartAsync(_data.Path))
        {
            for (var i = 0; i < 8; i++) await SendAsync(host.SmtpPort, $"delivered-{i}");
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(60));
        }
        // Queued before the backup: accepted (250) with no worker to deliver them, so they are in the spool's journal
        // and segments when the backup starts.
        await using (var host = await HostProcess.StartAsync(_data.Path, "--Worker:Enabled=false"))
            for (var i = 0; i < 5; i++) await SendAsync(host.SmtpPort, $"queued-{i}");

        var backup = Path.Combine(_scratch.Path, "backup");
        var duringSent = new List<string>();
        await using (var host = await HostProcess.StartAsync(_data.Path))
        {
            // Mail keeps arriving (and the worker delivers the queued ones) while the backup runs.
            using var stop = new CancellationTokenSource();
            var sender = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested && i < 200; i++)
                {
                    await SendAsync(host.SmtpPort, $"during-{i}");
                    lock (duringSent) duringSent.Add($"during-{i}");
                }
            });
            await Task.Delay(300);
            var made = await HostProcess.AdminAsync(_data.Path, "backup", backup);
            stop.Cancel();
            await sender;
            Assert.True(made.ExitCode == 0, made.StdOut + made.StdErr);
            Assert.Contains("(format 1)", made.StdOut, StringComparison.Ordinal);

            // A second backup into the same place is refused with one line, and a restore over a live directory too.
            var again = await HostProcess.AdminAsync(_data.Path, "backup", backup);
            Assert.Equal(65, again.ExitCode);
            Assert.Equal($"mail: backup: backup directory '{backup}' is not empty: name a new or empty directory (nothing was changed)", again.StdErr.Trim());
            var over = await HostProcess.AdminAsync(_data.Path, "restore", backup);
            Assert.Equal(65, over.ExitCode);
            Assert.Equal($"mail: restore: data directory '{_data.Path}' is not empty: name a new or empty directory (nothing was changed)", over.StdErr.Trim());
        }
        Assert.True(duringSent.Count > 0, "no message was sent while the backup ran");

        using (var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(backup, "manifest.json"))))
        {
            Assert.Equal(1, manifest.RootElement.GetProperty("format").GetInt32());
            var files = manifest.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString()).ToList();
            Assert.Contains("mail.db", files);
            Assert.Contains(keyRelative.Replace('\\', '/'), files);
            Assert.DoesNotContain(files, f => f!.StartsWith("imap-cache", StringComparison.Ordinal) || f.EndsWith("-wal", StringComparison.Ordinal));
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(Path.Combine(backup, keyRelative)));

        var restored = Path.Combine(_scratch.Path, "restored");
        var restore = await HostProcess.AdminAsync(restored, "restore", backup);
        Assert.True(restore.ExitCode == 0, restore.StdOut + restore.StdErr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(Path.Combine(restored, keyRelative)));
        Assert.Equal(await File.ReadAllTextAsync(key), await File.ReadAllTextAsync(Path.Combine(restored, keyRelative)));

        await using (var host = await HostProcess.StartAsync(restored))
        {
            // The envelopes the backup caught in the spool are delivered by the restored server.
            await HostProcess.WaitForEmptyQueueAsync(restored, TimeSpan.FromSeconds(60));
            using var imap = new ImapClient();
            await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await imap.AuthenticateAsync("alice@example.org", "secret");
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.UniqueId);
            var subjects = summaries.Select(s => s.Envelope!.Subject ?? "").ToList();
            for (var i = 0; i < 8; i++) Assert.Contains($"delivered-{i}", subjects);
            for (var i = 0; i < 5; i++) Assert.Contains($"queued-{i}", subjects);
            // Whatever arrived during the backup is there at most once, and nothing else is.
            Assert.Equal(subjects.Count, subjects.Distinct(StringComparer.Ordinal).Count());
            Assert.All(subjects, s => Assert.True(s.StartsWith("delivered-", StringComparison.Ordinal) || s.StartsWith("queued-", StringComparison.Ordinal) || duringSent.Contains(s), s));
            // Every message is whole: its body reads back as it was sent.
            foreach (var summary in summaries)
            {
                var message = await imap.Inbox.GetMessageAsync(summary.UniqueId);
                Assert.Equal("body of " + summary.Envelope!.Subject + "\n" + new string('x', 2000), message.TextBody!.ReplaceLineEndings("\n").TrimEnd('\n'));
            }
            await imap.DisconnectAsync(true);
        }
        // The restored keys still sign: the DKIM records are listed from the restored data.
        Assert.Contains("s1", (await HostProcess.AdminOkAsync(restored, "dkim", "list", "example.org")).StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restore_refuses_a_newer_manifest_and_a_directory_that_is_not_a_backup()
    {
        var backup = Path.Combine(_scratch.Path, "future");
        Directory.CreateDirectory(backup);
        var target = Path.Combine(_scratch.Path, "target");
        var notBackup = await HostProcess.AdminAsync(target, "restore", backup);
        Assert.Equal(65, notBackup.ExitCode);
        Assert.Equal($"mail: restore: {Path.Combine(backup, "manifest.json")} is missing: '{backup}' is not a backup made by `mail backup`, or one that did not finish", notBackup.StdErr.Trim());

        await File.WriteAllTextAsync(Path.Combine(backup, "manifest.json"), """{"format": 2, "created": "2030-01-01T00:00:00Z", "source": "/x", "files": [], "layout": "new"}""");
        var newer = await HostProcess.AdminAsync(target, "restore", backup);
        Assert.Equal(65, newer.ExitCode);
        Assert.Equal($"mail: restore: {Path.Combine(backup, "manifest.json")} is backup format 2; this mail reads format 1 and older: restore it with the newer mail that made it", newer.StdErr.Trim());
        Assert.False(Directory.Exists(target));

        // A manifest naming a path outside the backup is refused before anything is written.
        await File.WriteAllTextAsync(Path.Combine(backup, "manifest.json"), """{"format": 1, "created": "2030-01-01T00:00:00Z", "source": "/x", "files": [{"path": "../../etc/passwd", "size": 1, "sha256": "00", "mode": 384}]}""");
        var escape = await HostProcess.AdminAsync(target, "restore", backup);
        Assert.Equal(65, escape.ExitCode);
        Assert.Contains("names a file outside the backup: '../../etc/passwd'", escape.StdErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(target));

        // A backup of a directory that is not a data directory is refused too.
        var empty = Path.Combine(_scratch.Path, "empty");
        Directory.CreateDirectory(empty);
        var noData = await HostProcess.AdminAsync(empty, "backup", Path.Combine(_scratch.Path, "b2"));
        Assert.Equal(65, noData.ExitCode);
        Assert.StartsWith($"mail: backup: '{empty}' holds no mail.db", noData.StdErr.Trim(), StringComparison.Ordinal);
    }
}
