using System.Buffers.Binary;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using Mail.Imap.Session;

namespace Mail.Imap.Tests;

/// <summary>The per-mailbox cache file (&lt;CacheDirectory&gt;/boxes): a damaged file, one of another format version,
/// a crash between a store append and the cache update (and one in the middle of a cache append), and sessions
/// using one file at once. Clients (MailKit) always see what the store holds; the server's counters show whether
/// the file was used, never timing.</summary>
public sealed class MailboxCacheFileTests
{
    private const int Count = MailboxCacheFile.MinListMessages + 4; // big enough for its list to be kept too

    private static async Task<ImapTestServer> StartWithMailboxAsync(int count = Count)
    {
        var server = await ImapTestServer.StartWithDiskCacheAsync();
        for (var i = 1; i <= count; i++)
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"box {i}", from: $"Sender {i} <s{i}@example.org>"), i % 4 == 0 ? ["\\Seen"] : null);
        return server;
    }

    private static async Task<List<(uint Uid, string? Subject, string From, MessageFlags Flags)>> SyncAsync(ImapTestServer server)
    {
        using var client = new ImapClient { Timeout = 60_000 };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope | MessageSummaryItems.Flags);
        await client.DisconnectAsync(true);
        return summaries.Select(s => (s.UniqueId.Id, s.Envelope!.Subject, s.Envelope.From.ToString(), s.Flags!.Value & ~MessageFlags.Recent)).ToList(); // \Recent is per session
    }

    private static string BoxFile(ImapTestServer server) =>
        Directory.GetFiles(Path.Combine(ImapTestServer.CacheDirectoryOf(server.DataPath), MailboxCacheFiles.DirectoryName), "*.box").Single();

    [Fact]
    public async Task A_restart_serves_select_and_fetch_from_the_one_file()
    {
        var server = await StartWithMailboxAsync();
        try
        {
            var first = await SyncAsync(server);
            await server.Server.FlushCacheAsync();
            Assert.Equal(1, server.Server.MessageListSnapshotWrites);
            Assert.Equal(Count, server.Server.PersistentCacheWrites);

            server = await server.RestartAsync();
            Assert.Equal(first, await SyncAsync(server));
            Assert.Equal(1, server.Server.MessageListSnapshotHits);
            Assert.Equal(Count, server.Server.PersistentCacheHits);
            await server.Server.FlushCacheAsync();
            Assert.Equal(0, server.Server.PersistentCacheWrites);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_file_of_another_format_version_is_rebuilt_with_a_log_line()
    {
        var server = await StartWithMailboxAsync(5);
        try
        {
            var first = await SyncAsync(server);
            await server.Server.FlushCacheAsync();
            var file = BoxFile(server);
            var log = new ListLoggerFactory();
            server = await server.RestartAsync(loggerFactory: log, whileStopped: () =>
            {
                var bytes = File.ReadAllBytes(file);
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), MailboxCacheFile.FormatVersion + 1);
                File.WriteAllBytes(file, bytes);
            });
            Assert.Equal(first, await SyncAsync(server));
            Assert.Equal(0, server.Server.PersistentCacheHits);
            Assert.Equal(1, server.Server.PersistentCacheRebuilds);
            Assert.Contains(log.Lines, l => l.StartsWith("Warning: IMAP cache file", StringComparison.Ordinal)
                && l.Contains($"has format version {MailboxCacheFile.FormatVersion + 1}, this build reads {MailboxCacheFile.FormatVersion}", StringComparison.Ordinal)
                && l.Contains("building it again", StringComparison.Ordinal));
            await server.Server.FlushCacheAsync();
            Assert.Equal(5, server.Server.PersistentCacheWrites);
            Assert.Equal(MailboxCacheFile.FormatVersion, BinaryPrimitives.ReadInt32LittleEndian(File.ReadAllBytes(file).AsSpan(4)));

            server = await server.RestartAsync();
            Assert.Equal(first, await SyncAsync(server));
            Assert.Equal(5, server.Server.PersistentCacheHits);
            Assert.Equal(0, server.Server.PersistentCacheRebuilds);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_damaged_list_is_a_miss_and_the_file_is_rebuilt()
    {
        var server = await StartWithMailboxAsync();
        try
        {
            var first = await SyncAsync(server);
            await server.Server.FlushCacheAsync();
            var file = BoxFile(server);
            server = await server.RestartAsync(whileStopped: () =>
            {
                var bytes = File.ReadAllBytes(file);
                bytes[100] ^= 0x55; // inside the list: the header's CRC-32 no longer matches
                File.WriteAllBytes(file, bytes);
            });
            Assert.Equal(first, await SyncAsync(server));
            Assert.Equal(0, server.Server.MessageListSnapshotHits);
            Assert.Equal(0, server.Server.PersistentCacheHits);
            Assert.Equal(1, server.Server.PersistentCacheRebuilds);
            await server.Server.FlushCacheAsync();

            server = await server.RestartAsync();
            Assert.Equal(first, await SyncAsync(server));
            Assert.Equal(1, server.Server.MessageListSnapshotHits);
            Assert.Equal(Count, server.Server.PersistentCacheHits);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_crash_between_the_store_append_and_the_cache_update_loses_nothing()
    {
        var server = await StartWithMailboxAsync();
        try
        {
            await SyncAsync(server);
            await server.Server.FlushCacheAsync();
            var file = BoxFile(server);
            // The gateway stops; the store takes a delivery and a flag change the cache file never saw, and the file
            // ends in half a record (a crash in the middle of an append).
            server = await server.RestartAsync(whileStopped: () =>
            {
                using var f = new FileStream(file, FileMode.Append);
                f.Write([0x40, 0, 0, 0, 1, 2, 3]);
            });
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("after the crash", from: "Late <late@example.org>"));
            await server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [3L], Mail.Core.Ports.FlagChange.Add, ["\\Flagged"]);

            var after = await SyncAsync(server);
            Assert.Equal(Count + 1, after.Count);
            Assert.Equal(0, server.Server.MessageListSnapshotHits); // the store's signature moved on
            Assert.Equal(Count, server.Server.PersistentCacheHits); // the whole records before the torn one still serve
            Assert.Equal("after the crash", after[^1].Subject);
            Assert.Contains("late@example.org", after[^1].From, StringComparison.Ordinal);
            Assert.True(after.Single(m => m.Uid == 3).Flags.HasFlag(MessageFlags.Flagged));
            await server.Server.FlushCacheAsync();
            Assert.Equal(1, server.Server.PersistentCacheWrites);

            // The torn tail was cut off before the new record: the next restart serves everything from the file.
            server = await server.RestartAsync();
            Assert.Equal(after, await SyncAsync(server));
            Assert.Equal(1, server.Server.MessageListSnapshotHits);
            Assert.Equal(Count + 1, server.Server.PersistentCacheHits);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Sessions_syncing_one_mailbox_at_once_share_one_consistent_file()
    {
        var server = await StartWithMailboxAsync();
        try
        {
            var expected = await SyncAsync(server);
            server = await server.RestartAsync(whileStopped: () => Directory.Delete(ImapTestServer.CacheDirectoryOf(server.DataPath), recursive: true));

            // Four clients sync at once while a fifth delivers and flags: each sees a consistent mailbox.
            var syncs = Enumerable.Range(0, 4).Select(_ => Task.Run(() => SyncAsync(server))).ToList();
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("during the sync"));
            var results = await Task.WhenAll(syncs);
            foreach (var r in results)
            {
                Assert.True(r.Count is Count or Count + 1);
                Assert.Equal(expected, r.Take(Count).ToList());
            }
            var now = await SyncAsync(server);
            Assert.Equal(Count + 1, now.Count);
            await server.Server.FlushCacheAsync();

            server = await server.RestartAsync();
            Assert.Equal(now, await SyncAsync(server));
            Assert.Equal(1, server.Server.MessageListSnapshotHits);
            Assert.Equal(Count + 1, server.Server.PersistentCacheHits);
            Assert.Equal(0, server.Server.PersistentCacheRebuilds);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
