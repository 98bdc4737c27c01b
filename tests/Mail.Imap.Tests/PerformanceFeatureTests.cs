using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Storage.Embedded;
using Microsoft.Data.Sqlite;

namespace Mail.Imap.Tests;

/// <summary>The features added to make the gateway keep up with Dovecot: the login cache, the ENVELOPE cache and
/// the MESSAGES/UNSEEN counts kept in the mailbox row. Each is checked for being right, not for being fast.</summary>
public sealed class PerformanceFeatureTests
{
    private static async Task<ImapClient> ConnectAsync(ImapTestServer server)
    {
        var client = new ImapClient { Timeout = 30_000 };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
        return client;
    }

    private static async Task<bool> CanLoginAsync(ImapTestServer server, string user, string password)
    {
        using var client = await ConnectAsync(server);
        try
        {
            await client.AuthenticateAsync(user, password);
            return true;
        }
        catch (AuthenticationException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Login_cache_accepts_repeat_logins_and_forgets_a_changed_password()
    {
        // The directory's cache (Auth:CacheTtl in `mail serve`), the one SMTP AUTH uses too.
        var cache = new AuthCache(TimeSpan.FromMinutes(5));
        await using var server = await ImapTestServer.StartAsync(authCache: cache);
        Assert.True(await CanLoginAsync(server, ImapTestServer.Alice, ImapTestServer.Password));
        Assert.Equal(0, cache.Hits);
        Assert.True(await CanLoginAsync(server, ImapTestServer.Alice, ImapTestServer.Password));
        Assert.Equal(1, cache.Hits);
        // A cached success for one password says nothing about another.
        Assert.False(await CanLoginAsync(server, ImapTestServer.Alice, "wrong-" + ImapTestServer.Password));
        // Changing the password (new salt, new record) must make the cached entry useless at once.
        await server.Users.SetUserAsync(ImapTestServer.Alice, "new-password-1");
        Assert.False(await CanLoginAsync(server, ImapTestServer.Alice, ImapTestServer.Password));
        Assert.True(await CanLoginAsync(server, ImapTestServer.Alice, "new-password-1"));
        Assert.True(await CanLoginAsync(server, "ALICE@example.test", "new-password-1"));
        Assert.Equal(2, cache.Hits);
    }

    [Fact]
    public async Task Cache_setting_is_checked()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ImapTestServer.StartAsync(o => o.EnvelopeCacheSize = -1));
        Assert.Contains("Imap:EnvelopeCacheSize", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(50_000)]
    [InlineData(2)] // smaller than the mailbox: the cache empties and refills mid-FETCH
    public async Task Envelopes_from_the_cache_equal_freshly_parsed_ones(int cacheSize)
    {
        await using var server = await ImapTestServer.StartAsync(o => o.EnvelopeCacheSize = cacheSize);
        for (var i = 0; i < 5; i++) await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"Subject {i}", from: $"Sender {i} <s{i}@example.org>"));
        using var client = await ConnectAsync(server);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var first = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope);
        var second = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope);
        Assert.Equal(5, second.Count);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal($"Subject {i}", second[i].Envelope!.Subject);
            Assert.Equal($"s{i}@example.org", second[i].Envelope!.From.Mailboxes.Single().Address);
            Assert.Equal(first[i].Envelope!.ToString(), second[i].Envelope!.ToString());
        }
    }

    [Fact]
    public async Task Select_never_serves_a_stale_message_list()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 0; i < 3; i++) await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
        using var client = await ConnectAsync(server);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);

        async Task<IList<IMessageSummary>> Reselect()
        {
            if (client.Inbox.IsOpen) await client.Inbox.CloseAsync();
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            return await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags);
        }

        var first = await Reselect();
        Assert.Equal(3, first.Count);
        Assert.Equal(3, (await Reselect()).Count); // unchanged: may come from the cache, must be the same

        // Changes made behind the session's back, straight in the store (as another process would).
        await server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [first[1].UniqueId.Id], FlagChange.Add, [Mail.Core.Ports.MessageFlags.Flagged]);
        var afterFlag = await Reselect();
        Assert.True(afterFlag[1].Flags!.Value.HasFlag(MailKit.MessageFlags.Flagged));

        await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("m3"));
        Assert.Equal(4, (await Reselect()).Count);

        await server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [first[0].UniqueId.Id], FlagChange.Add, [Mail.Core.Ports.MessageFlags.Deleted]);
        await server.Mailboxes.ExpungeAsync(ImapTestServer.Alice, "INBOX", null);
        var afterExpunge = await Reselect();
        Assert.Equal(3, afterExpunge.Count);
        Assert.DoesNotContain(afterExpunge, m => m.UniqueId == first[0].UniqueId);
    }

    [Fact]
    public async Task Status_counts_follow_append_flag_changes_expunge_copy_and_move()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 0; i < 4; i++) await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
        await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("read"), [Mail.Core.Ports.MessageFlags.Seen]);
        using var client = await ConnectAsync(server);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        var archive = await client.GetFolderAsync("Archive");

        async Task Expect(IMailFolder folder, int messages, int unseen)
        {
            await folder.StatusAsync(StatusItems.Count | StatusItems.Unread);
            Assert.Equal((messages, unseen), (folder.Count, folder.Unread));
            var info = await server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, folder.FullName);
            Assert.Equal((messages, unseen), (info!.MessageCount, info.UnseenCount));
        }

        await Expect(client.Inbox, 5, 4);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var uids = await client.Inbox.SearchAsync(SearchQuery.All);
        await client.Inbox.AddFlagsAsync(uids[0], MailKit.MessageFlags.Seen, true);
        await client.Inbox.AddFlagsAsync(uids[0], MailKit.MessageFlags.Flagged, true); // not \Seen: counts unchanged
        await client.Inbox.CloseAsync();
        await Expect(client.Inbox, 5, 3);

        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await client.Inbox.CopyToAsync([uids[0], uids[1]], archive);
        await client.Inbox.MoveToAsync([uids[2]], archive);
        await client.Inbox.AddFlagsAsync(uids[3], MailKit.MessageFlags.Deleted, true);
        await client.Inbox.ExpungeAsync();
        await client.Inbox.CloseAsync();
        await Expect(client.Inbox, 3, 1);   // uids[0] (seen), uids[1], uids[4] (seen)
        await Expect(archive, 3, 2);        // copies of uids[0] (seen) and uids[1], moved uids[2]
    }

    [Fact]
    public async Task A_database_made_before_the_count_columns_is_migrated_with_a_recount()
    {
        var dir = Path.Combine(Path.GetTempPath(), "imap-counts-" + Guid.NewGuid().ToString("N"));
        var db = Path.Combine(dir, "mail.db");
        try
        {
            var store = new SqliteMailboxStore(db);
            await store.EnsureUserMailboxesAsync("u@example.test");
            for (var i = 0; i < 3; i++)
                await store.AppendAsync("u@example.test", "INBOX", new NewMessage($"m{i}", 10, DateTimeOffset.UtcNow, i == 0 ? [Mail.Core.Ports.MessageFlags.Seen] : [], $"k{i}"));
            // Make it look like the old schema: no triggers, no count columns.
            using (var c = new SqliteConnection($"Data Source={db};Pooling=False"))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = """
                    DROP TRIGGER message_count_insert; DROP TRIGGER message_count_delete; DROP TRIGGER message_count_update;
                    ALTER TABLE mailbox DROP COLUMN message_count; ALTER TABLE mailbox DROP COLUMN unseen_count;
                    """;
                cmd.ExecuteNonQuery();
            }
            SqliteConnection.ClearAllPools();
            var reopened = new SqliteMailboxStore(db);
            var inbox = await reopened.GetMailboxAsync("u@example.test", "INBOX");
            Assert.Equal((3, 2), (inbox!.MessageCount, inbox.UnseenCount));
            await reopened.AppendAsync("u@example.test", "INBOX", new NewMessage("m9", 10, DateTimeOffset.UtcNow, [], "k9"));
            inbox = await reopened.GetMailboxAsync("u@example.test", "INBOX");
            Assert.Equal((4, 3), (inbox!.MessageCount, inbox.UnseenCount));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>The header reader with its pooled buffer: headers longer than one buffer, split across many reads,
/// and the size cap.</summary>
public sealed class HeaderBlockReadTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100_000)]
    public async Task Reads_a_header_larger_than_one_buffer_in_any_chunking(int chunk)
    {
        var header = "Subject: big\r\nX-Long: " + new string('a', 150_000) + "\r\nTo: z@example.test\r\n\r\n";
        var raw = System.Text.Encoding.ASCII.GetBytes(header + "body\r\n");
        var read = await Mail.Core.Messages.HeaderBlock.ReadAsync(new ChunkedStream(raw, chunk), 1024 * 1024, CancellationToken.None);
        Assert.Equal(header, System.Text.Encoding.ASCII.GetString(read));
        var capped = await Mail.Core.Messages.HeaderBlock.ReadAsync(new ChunkedStream(raw, chunk), 70_000, CancellationToken.None);
        Assert.Equal(70_000, capped.Length);
        Assert.Equal(header[..70_000], System.Text.Encoding.ASCII.GetString(capped));
    }

    /// <summary>Returns at most <c>chunk</c> octets per read, as a socket or a slow disk may.</summary>
    private sealed class ChunkedStream(byte[] data, int chunk) : MemoryStream(data, writable: false)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}
