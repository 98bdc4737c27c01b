using MailKit.Net.Imap;
using MailKit.Security;
using Mail.Core.Accounts;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Imap.Tests;

/// <summary>A user moved from Dovecot keeps the password: the stored hash is Dovecot's own "{SHA512-CRYPT}$6$...".</summary>
public sealed class ImportedHashLoginTests
{
    private static async Task<string> DovecotStyleHashAsync(string password)
    {
        // doveadm writes the "{SHA512-CRYPT}" prefix itself; openssl writes the bare crypt string.
        if (File.Exists("/usr/bin/doveadm"))
        {
            var made = await ExternalProcess.RunAsync("/usr/bin/doveadm", ["pw", "-s", "SHA512-CRYPT", "-p", password]);
            if (made.ExitCode == 0) return made.StdOut.Trim();
        }
        var ssl = await ExternalProcess.RunAsync("openssl", ["passwd", "-6", password]);
        Assert.Equal(0, ssl.ExitCode);
        return "{SHA512-CRYPT}" + ssl.StdOut.Trim();
    }

    [Fact]
    public async Task Login_over_imap_with_an_imported_SHA512_CRYPT_hash()
    {
        await using var server = await ImapTestServer.StartAsync();
        const string user = "dave@example.test";
        const string password = "moved from dovecot";
        var hash = await DovecotStyleHashAsync(password);
        Assert.StartsWith("{SHA512-CRYPT}$6$", hash, StringComparison.Ordinal);
        await server.Users.SetUserPasswordHashAsync(user, hash);
        await server.Mailboxes.EnsureUserMailboxesAsync(user);

        using (var client = new ImapClient { Timeout = 30_000 })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
            await client.AuthenticateAsync(user, password);
            Assert.True(client.IsAuthenticated);
            await client.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
            await client.DisconnectAsync(true);
        }
        using (var client = new ImapClient { Timeout = 30_000 })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
            await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(user, password + "!"));
        }
    }
}
