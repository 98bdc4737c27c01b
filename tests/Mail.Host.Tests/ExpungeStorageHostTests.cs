using Mail.Storage.Embedded;
using Mail.Testing;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Mail.Host.Tests;

/// <summary>
/// A delivered copy is deleted once no mailbox row references it, and not before: real clients (MailKit over IMAP,
/// Python's poplib over POP3) against the host process, with a restart in between.
/// </summary>
[Collection("host")]
public sealed class ExpungeStorageHostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private string Copies => Path.Combine(_data.Path, "mailbox-messages");

    private async Task<bool> CopyExistsAsync(string messageRef)
    {
        await using var s = await DeliveredCopies.TryOpenAsync(_data.Path, messageRef);
        return s is not null;
    }

    private static async Task SendAsync(HostProcess host, string subject)
    {
        using var smtp = new MailKit.Net.Smtp.SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", host.SmtpPort, SecureSocketOptions.None);
        var message = new MimeKit.MimeMessage();
        message.From.Add(MimeKit.MailboxAddress.Parse("bob@example.net"));
        message.To.Add(MimeKit.MailboxAddress.Parse("alice@example.org"));
        message.Subject = subject;
        message.Body = new MimeKit.TextPart("plain") { Text = subject + " body" };
        await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
    }

    private static async Task<ImapClient> ImapAsync(HostProcess host)
    {
        var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        return imap;
    }

    [Fact]
    public async Task A_copy_stays_while_a_mailbox_references_it_and_goes_with_the_last_reference_over_imap_and_pop3_across_a_restart()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        string copied, popped;
        await using (var host = await HostProcess.StartAsync(_data.Path))
        {
            await SendAsync(host, "first");
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(60));
            await SendAsync(host, "second");
            await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(60));
            var rows = await new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db")).ListMessagesAsync("alice@example.org", "INBOX");
            Assert.Equal(2, rows.Count);
            (copied, popped) = (rows[0].MessageRef, rows[1].MessageRef);

            // COPY the first to Archive, then EXPUNGE it from INBOX: Archive still references the copy.
            using var imap = await ImapAsync(host);
            var archive = await imap.GetFolderAsync("Archive");
            await imap.Inbox.OpenAsync(FolderAccess.ReadWrite);
            await imap.Inbox.CopyToAsync(new UniqueId(1), archive);
            await imap.Inbox.AddFlagsAsync(new UniqueId(1), MessageFlags.Deleted, true);
            await imap.Inbox.ExpungeAsync();
            Assert.Equal(1, imap.Inbox.Count);
            Assert.True(await CopyExistsAsync(copied));
            await archive.OpenAsync(FolderAccess.ReadOnly);
            Assert.Equal("first", (await archive.GetMessageAsync(0)).Subject);
            await imap.DisconnectAsync(true);
            Assert.Equal(0, await host.TerminateAsync());
        }
        // A clean stop closed the stores: the copies' segment is trimmed and indexed; the originals, all delivered,
        // left no segment and never had index files.
        var segments = Directory.GetFiles(Copies, "*.seg");
        Assert.Single(segments);
        Assert.True(File.Exists(Path.ChangeExtension(segments[0], ".idx")));
        Assert.Empty(Directory.GetFiles(Path.Combine(_data.Path, "queue", "messages"), "*.seg"));
        Assert.Empty(Directory.GetFiles(Path.Combine(_data.Path, "queue", "messages"), "*.idx"));

        await using (var host = await HostProcess.StartAsync(_data.Path))
        {
            Assert.True(await CopyExistsAsync(copied));
            // The last reference goes with CLOSE (an implicit EXPUNGE).
            using (var imap = await ImapAsync(host))
            {
                var archive = await imap.GetFolderAsync("Archive");
                await archive.OpenAsync(FolderAccess.ReadWrite);
                await archive.AddFlagsAsync(0, MessageFlags.Deleted, true);
                await archive.CloseAsync(expunge: true);
                await imap.DisconnectAsync(true);
            }
            Assert.False(await CopyExistsAsync(copied));
            Assert.True(await CopyExistsAsync(popped));

            // POP3: DELE, then QUIT expunges; the last copy in the segment goes, and with it the segment.
            var pop = await ExternalProcess.RunAsync("python3", ["-c", $$"""
                import poplib
                p = poplib.POP3("127.0.0.1", {{host.Pop3Port}}, timeout=30)
                p.user("alice@example.org"); p.pass_("secret")
                assert p.stat()[0] == 1, p.stat()
                print(p.dele(1).decode())
                print(p.quit().decode())
                """], timeout: TimeSpan.FromSeconds(60));
            Assert.True(pop.ExitCode == 0, pop.StdOut + pop.StdErr);
            Assert.False(await CopyExistsAsync(popped));
            Assert.Empty(Directory.GetFiles(Copies, "*.seg"));
            Assert.Empty(Directory.GetFiles(Copies, "*.idx"));
            Assert.Empty(Directory.GetFiles(Copies, "*.dead"));
            Assert.Empty(await new SqliteMailboxStore(Path.Combine(_data.Path, "mail.db")).ListMessagesAsync("alice@example.org", "INBOX"));
        }
    }
}
