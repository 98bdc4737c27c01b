using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using Mail.Imap.Session;

namespace Mail.Imap.Tests;

/// <summary>The on-disk message list snapshot (in Imap:CacheDirectory): the first SELECT after a restart reads it
/// instead of the mailbox index, and it never shows a list older than the store's: flags changed, messages
/// delivered or expunged while it was on disk are seen. Observed with MailKit and the server's counters.</summary>
public sealed class MessageListSnapshotTests
{
    private const int Count = MailboxCacheFile.MinListMessages + 4;

    private static async Task<ImapTestServer> StartWithMailboxAsync()
    {
        var server = await ImapTestServer.StartWithDiskCacheAsync();
        for (var i = 1; i <= Count; i++)
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"list {i}"), i % 3 == 0 ? ["\\Seen"] : null);
        return server;
    }

    private static async Task<(int Exists, List<(uint Uid, MessageFlags Flags, ulong ModSeq)> Messages)> SelectAsync(ImapTestServer server, Func<IMailFolder, Task>? then = null)
    {
        using var client = new ImapClient { Timeout = 30_000 };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var exists = client.Inbox.Count;
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.ModSeq);
        if (then is not null) await then(client.Inbox);
        await client.DisconnectAsync(true);
        return (exists, summaries.Select(s => (s.UniqueId.Id, s.Flags!.Value, s.ModSeq ?? 0)).ToList());
    }

    [Fact]
    public async Task Select_after_a_restart_is_served_from_the_snapshot()
    {
        var server = await StartWithMailboxAsync();
        try
        {
            var first = await SelectAsync(server);
            Assert.Equal(Count, first.Exists);
            Assert.Equal(0, server.Server.MessageListSnapshotHits); // read from the index, then written behind
            await server.Server.FlushCacheAsync();
            Assert.Equal(1, server.Server.MessageListSnapshotWrites);

            server = await server.RestartAsync();
            var second = await SelectAsync(server);
            Assert.Equal(1, server.Server.MessageListSnapshotHits);
            Assert.Equal(first.Messages, second.Messages);
            Assert.Equal(Count / 3, second.Messages.Count(m => m.Flags.HasFlag(MessageFlags.Seen)));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_snapshot_never_shows_stale_flags_or_messages()
    {
        var server = await StartWithMailboxAsync();
        try
        {
            await SelectAsync(server);
            await server.Server.FlushCacheAsync();
            Assert.Equal(1, server.Server.MessageListSnapshotWrites);

            // Flags change over IMAP after the snapshot was written (the in-memory list is updated, the file is not).
            await SelectAsync(server, inbox => inbox.AddFlagsAsync([new UniqueId(5), new UniqueId(7)], MessageFlags.Flagged | MessageFlags.Seen, true));
            // And while the gateway is stopped, the pipeline delivers one more message and another process sets a flag.
            server = await server.RestartAsync();
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("arrived after the snapshot"));
            await server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [9L], Mail.Core.Ports.FlagChange.Add, ["$Important"]);

            var after = await SelectAsync(server);
            Assert.Equal(0, server.Server.MessageListSnapshotHits); // the stored signature moved on: the file is not used
            Assert.Equal(Count + 1, after.Exists);
            var byUid = after.Messages.ToDictionary(m => m.Uid);
            Assert.True(byUid[5].Flags.HasFlag(MessageFlags.Flagged) && byUid[5].Flags.HasFlag(MessageFlags.Seen));
            Assert.True(byUid[7].Flags.HasFlag(MessageFlags.Flagged));
            Assert.False(byUid[6].Flags.HasFlag(MessageFlags.Flagged));
            await server.Server.FlushCacheAsync();
            Assert.Equal(1, server.Server.MessageListSnapshotWrites); // the new list replaced the old file

            // An expunge, then a restart: the new snapshot is not used for the changed mailbox either.
            await SelectAsync(server, async inbox =>
            {
                await inbox.AddFlagsAsync([new UniqueId(2)], MessageFlags.Deleted, true);
                await inbox.ExpungeAsync();
            });
            server = await server.RestartAsync();
            var expunged = await SelectAsync(server);
            Assert.Equal(0, server.Server.MessageListSnapshotHits);
            Assert.Equal(Count, expunged.Exists);
            Assert.DoesNotContain(expunged.Messages, m => m.Uid == 2);

            // Unchanged since that SELECT: the next restart is served from the file, with the same flags and MODSEQs.
            await server.Server.FlushCacheAsync();
            server = await server.RestartAsync();
            var served = await SelectAsync(server);
            Assert.Equal(1, server.Server.MessageListSnapshotHits);
            Assert.Equal(expunged.Messages, served.Messages);
            Assert.True(served.Messages.Single(m => m.Uid == 5).Flags.HasFlag(MessageFlags.Flagged));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Flag_sets_read_back_as_written_including_none_after_some()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snapshot-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var files = new MailboxCacheFiles(dir, 1000, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            string[][] sets = [["\\Seen"], [], ["\\Seen", "$Label1"], [], ["\\Seen"]];
            var records = Enumerable.Range(1, Count)
                .Select(i => new Mail.Core.Ports.MessageRecord(i, $"ref{i}", 100 + i, DateTimeOffset.UnixEpoch.AddDays(i), sets[i % sets.Length], i))
                .ToList();
            var info = new Mail.Core.Ports.MailboxInfo("alice@example.test", "INBOX", 7, Count + 1, Count, null, Count, 0);
            files.SaveList(info, records);
            await files.FlushAsync();
            var read = files.TryReadList(info);
            Assert.NotNull(read);
            Assert.Equal(records.Select(r => (r.Uid, r.MessageRef, r.Size, r.InternalDate, string.Join(',', r.Flags), r.ModSeq)),
                read.Select(r => (r.Uid, r.MessageRef, r.Size, r.InternalDate, string.Join(',', r.Flags), r.ModSeq)));
            Assert.All(read.Where(r => r.Uid % sets.Length is 1 or 3), r => Assert.Empty(r.Flags));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    private static (long, string, long, DateTimeOffset, string, long) Fields(Mail.Core.Ports.MessageRecord r) =>
        (r.Uid, r.MessageRef, r.Size, r.InternalDate, string.Join(',', r.Flags), r.ModSeq);

    [Fact]
    public async Task Sessions_over_one_list_read_from_the_file_keep_their_own_changes()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snapshot-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var files = new MailboxCacheFiles(dir, 1000, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            // Every message seen but the 100th; UIDs with gaps (2, 4, 6, ...).
            var records = Enumerable.Range(1, Count)
                .Select(i => new Mail.Core.Ports.MessageRecord(2 * i, $"ref{i}", 100 + i, DateTimeOffset.UnixEpoch.AddDays(i), i == 100 ? ["Work"] : ["\\Seen"], i))
                .ToList();
            var info = new Mail.Core.Ports.MailboxInfo("alice@example.test", "INBOX", 7, 2 * Count + 1, Count, null, Count, 0);
            files.SaveList(info, records);
            await files.FlushAsync();
            var list = files.TryReadList(info);
            Assert.NotNull(list);

            var one = new SelectedMailbox("INBOX", readOnly: false, uidValidity: 7);
            var two = new SelectedMailbox("INBOX", readOnly: true, uidValidity: 7);
            one.Load(list);
            two.Load(list);
            Assert.Equal(records.Select(r => r.Uid), one.Uids);
            Assert.Equal(100, one.FirstUnseen());
            Assert.Equal(["Work"], one.Keywords());
            Assert.Equal(Count, one.HighestHeldModSeq);
            Assert.Equal(Fields(records[41]), Fields(one.Records[84]));
            Assert.False(one.Records.ContainsKey(83));

            one.Put(records[99] with { Flags = ["\\Seen"], ModSeq = Count + 1 });
            one.RemoveAt(0);
            Assert.Equal(0, one.FirstUnseen());
            Assert.False(one.Records.ContainsKey(2));
            Assert.False(one.Records.TryGetValue(2, out _));
            Assert.Equal(Count + 1, one.HighestHeldModSeq);
            // The other session, and the shared list, are as read.
            Assert.True(two.Records.ContainsKey(2));
            Assert.Equal(100, two.FirstUnseen());
            Assert.Equal(["Work"], two.Records[200].Flags);
            Assert.Equal(records.Select(Fields), list.Select(Fields));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task A_damaged_snapshot_is_a_miss_not_an_error()
    {
        var server = await StartWithMailboxAsync();
        try
        {
            var first = await SelectAsync(server);
            await server.Server.FlushCacheAsync();
            server = await server.RestartAsync(whileStopped: () =>
            {
                foreach (var f in Directory.GetFiles(Path.Combine(ImapTestServer.CacheDirectoryOf(server.DataPath), MailboxCacheFiles.DirectoryName)))
                {
                    var bytes = File.ReadAllBytes(f);
                    File.WriteAllBytes(f, bytes.AsSpan(0, bytes.Length / 2).ToArray()); // cut in the middle
                }
            });
            var second = await SelectAsync(server);
            Assert.Equal(0, server.Server.MessageListSnapshotHits);
            Assert.Equal(first.Messages, second.Messages);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
