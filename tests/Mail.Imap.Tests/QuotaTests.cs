using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MimeKit;
using Xunit;

namespace Mail.Imap.Tests;

/// <summary>RFC 9208 QUOTA against the real gateway, with MailKit (GETQUOTAROOT, OVERQUOTA) and raw commands.</summary>
public sealed class QuotaTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;
    private readonly MemoryStream _protocol = new();

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<ImapClient> ConnectAsync(string user = ImapTestServer.Alice)
    {
        var client = new ImapClient(new ProtocolLogger(_protocol, leaveOpen: true)) { Timeout = 15000 };
        await client.ConnectAsync("127.0.0.1", _server.Port, MailKit.Security.SecureSocketOptions.None);
        await client.AuthenticateAsync(user, ImapTestServer.Password);
        return client;
    }

    private string Protocol => Encoding.UTF8.GetString(_protocol.ToArray());

    private static MimeMessage Sized(int bodyOctets)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("carol@example.org"));
        m.To.Add(MailboxAddress.Parse(ImapTestServer.Alice));
        m.Subject = "sized";
        m.Body = new TextPart("plain") { Text = new string('x', bodyOctets) };
        return m;
    }

    [Fact]
    public async Task Getquotaroot_shows_usage_in_kib_growing_with_a_delivery_and_the_limit()
    {
        await _server.Quotas.SetLimitAsync(ImapTestServer.Alice, 100 * 1024);
        using var client = await ConnectAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Quota));
        Assert.Contains("QUOTA=RES-STORAGE", Protocol, StringComparison.Ordinal);

        var before = await client.Inbox.GetQuotaAsync();
        Assert.Equal("", before.QuotaRoot!.FullName);
        Assert.Equal(0u, before.CurrentStorageSize);
        Assert.Equal(100u, before.StorageLimit);

        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("five k", new string('y', 5000)));
        await _server.DeliverAsync(ImapTestServer.Alice, "Sent", ImapTestServer.Message("one k", new string('z', 1000)));
        var used = await _server.Mailboxes.GetUsageAsync(ImapTestServer.Alice);
        Assert.InRange(used, 6000, 7000);
        // Every mailbox is under the one root "": Sent's GETQUOTAROOT counts INBOX's message too.
        var after = await (await client.GetFolderAsync("Sent")).GetQuotaAsync();
        Assert.Equal((uint)((used + 1023) / 1024), after.CurrentStorageSize);
        Assert.Equal(100u, after.StorageLimit);
        Assert.Contains("* QUOTAROOT \"Sent\" \"\"", Protocol, StringComparison.Ordinal);
        Assert.Contains($"* QUOTA \"\" (STORAGE {(used + 1023) / 1024} 100)", Protocol, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Append_that_would_exceed_the_limit_is_refused_with_overquota_and_stores_nothing()
    {
        await _server.Quotas.SetLimitAsync(ImapTestServer.Alice, 10 * 1024);
        using var client = await ConnectAsync();
        await client.Inbox.AppendAsync(Sized(6000));
        var e = await Assert.ThrowsAsync<ImapCommandException>(() => client.Inbox.AppendAsync(Sized(6000)));
        Assert.Equal(ImapCommandResponse.No, e.Response);
        Assert.Contains("NO [OVERQUOTA]", Protocol, StringComparison.Ordinal);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(1, client.Inbox.Count);

        // COPY doubles the usage and is refused too; MOVE does not change it and goes through.
        var e2 = await Assert.ThrowsAsync<ImapCommandException>(() => client.Inbox.CopyToAsync(new UniqueId(1), client.GetFolder("Archive")));
        Assert.Equal(ImapCommandResponse.No, e2.Response);
        Assert.NotNull(await client.Inbox.MoveToAsync(new UniqueId(1), client.GetFolder("Archive")));
        Assert.Equal(1, await CountAsync(client, "Archive"));

        // A small message still fits; raising the limit lets the big one in.
        await client.Inbox.AppendAsync(Sized(100));
        await _server.Quotas.SetLimitAsync(ImapTestServer.Alice, null);
        await client.Inbox.AppendAsync(Sized(6000));
    }

    private static async Task<int> CountAsync(ImapClient client, string name)
    {
        var folder = await client.GetFolderAsync(name);
        await folder.StatusAsync(StatusItems.Count);
        return folder.Count;
    }

    [Fact]
    public async Task A_user_without_a_limit_has_no_quota_root_and_setquota_is_refused()
    {
        using var client = await ConnectAsync(ImapTestServer.Bob);
        await client.Inbox.AppendAsync(Sized(20000));
        var quota = await client.Inbox.GetQuotaAsync();
        Assert.Null(quota.StorageLimit);
        Assert.Contains("* QUOTAROOT \"INBOX\"\r\n", Protocol, StringComparison.Ordinal);
        Assert.DoesNotContain("* QUOTA ", Protocol, StringComparison.Ordinal);

        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        Assert.StartsWith("a OK", (await raw.CommandAsync("a", $"LOGIN {ImapTestServer.Bob} {ImapTestServer.Password}"))[^1], StringComparison.Ordinal);
        Assert.StartsWith("b NO [NONEXISTENT]", (await raw.CommandAsync("b", "GETQUOTA \"\""))[^1], StringComparison.Ordinal);
        Assert.StartsWith("c NO [NOPERM]", (await raw.CommandAsync("c", "SETQUOTA \"\" (STORAGE 1)"))[^1], StringComparison.Ordinal);
    }
}
