using MailKit;
using MailKit.Net.Imap;
using Mail.Core.Ports;
using Flags = Mail.Core.Ports.MessageFlags;
using KitFlags = MailKit.MessageFlags;

namespace Mail.Imap.Tests;

/// <summary>QRESYNC (RFC 7162 3.2) over real sockets: MailKit's quick resync on open, and the raw protocol
/// (VANISHED instead of EXPUNGE, UID FETCH ... VANISHED, the HIGHESTMODSEQ of EXPUNGE, errors).</summary>
public sealed class QresyncTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task DeliverAsync(int count)
    {
        for (var i = 0; i < count; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
    }

    private async Task ExpungeInStoreAsync(params long[] uids)
    {
        await _server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", uids, FlagChange.Add, [Flags.Deleted]);
        await _server.Mailboxes.ExpungeAsync(ImapTestServer.Alice, "INBOX", uids);
    }

    [Fact]
    public async Task MailKit_reopening_with_its_cache_hears_of_expunges_and_flag_changes_only()
    {
        await DeliverAsync(5);
        uint uidValidity;
        ulong modSeq;
        IList<UniqueId> known;
        using (var first = await _server.ConnectAliceAsync())
        {
            await first.EnableQuickResyncAsync();
            await first.Inbox.OpenAsync(FolderAccess.ReadOnly);
            uidValidity = first.Inbox.UidValidity;
            modSeq = first.Inbox.HighestModSeq;
            known = await first.Inbox.SearchAsync(MailKit.Search.SearchQuery.All);
            await first.DisconnectAsync(true);
        }
        Assert.Equal(5, known.Count);

        // While the client is away: 2 and 4 are expunged, 3 is flagged.
        await ExpungeInStoreAsync(2, 4);
        await _server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [3], FlagChange.Add, [Flags.Flagged]);

        using var client = await _server.ConnectAliceAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.QuickResync));
        await client.EnableQuickResyncAsync();
        var vanished = new List<(UniqueId Uid, bool Earlier)>();
        var flagged = new List<(UniqueId? Uid, KitFlags Flags)>();
        client.Inbox.MessagesVanished += (_, e) => vanished.AddRange(e.UniqueIds.Select(u => (u, e.Earlier)));
        client.Inbox.MessageFlagsChanged += (_, e) => flagged.Add((e.UniqueId, e.Flags));
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite, uidValidity, modSeq, known);

        Assert.Equal([(new UniqueId(2), true), (new UniqueId(4), true)], vanished);
        var change = Assert.Single(flagged);
        Assert.Equal(new UniqueId(3), change.Uid);
        Assert.True(change.Flags.HasFlag(KitFlags.Flagged));
        Assert.Equal(3, client.Inbox.Count);
        Assert.True(client.Inbox.HighestModSeq > modSeq);
    }

    [Fact]
    public async Task A_changed_uidvalidity_resyncs_nothing()
    {
        await DeliverAsync(2);
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        Assert.Contains("* ENABLED QRESYNC", await raw.CommandAsync("e", "ENABLE QRESYNC"));
        await ExpungeInStoreAsync(1);
        var r = await raw.CommandAsync("s", "SELECT INBOX (QRESYNC (1 1))");
        Assert.StartsWith("s OK", r[^1]);
        Assert.DoesNotContain(r, l => l.StartsWith("* VANISHED", StringComparison.Ordinal) || l.Contains(" FETCH ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Known_uids_limit_what_select_reports()
    {
        await DeliverAsync(4);
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("e", "ENABLE QRESYNC");
        var box = (await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "INBOX"))!;
        await ExpungeInStoreAsync(1, 3);
        await _server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [2, 4], FlagChange.Add, [Flags.Seen]);
        // The client says it knows UIDs 3:4 only (with sequence-match data, which this server does not need).
        var r = await raw.CommandAsync("s", $"EXAMINE INBOX (QRESYNC ({box.UidValidity} {box.HighestModSeq} 3:4 (1:2 3:4)))");
        Assert.StartsWith("s OK [READ-ONLY]", r[^1]);
        Assert.Contains("* VANISHED (EARLIER) 3", r);
        Assert.Contains(r, l => l.StartsWith("* 2 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (", StringComparison.Ordinal));
        Assert.DoesNotContain(r, l => l.Contains("UID 2 ", StringComparison.Ordinal));
        // VANISHED (EARLIER) comes before the FETCH responses.
        Assert.True(r.IndexOf("* VANISHED (EARLIER) 3") < r.FindIndex(l => l.Contains(" FETCH ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Once_enabled_expunges_are_vanished_uid_sets_and_expunge_reports_the_highest_modseq()
    {
        await DeliverAsync(5);
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("e", "ENABLE QRESYNC");
        await raw.CommandAsync("s", "SELECT INBOX");

        // Another session's expunge, seen at NOOP.
        await ExpungeInStoreAsync(2, 3);
        var r = await raw.CommandAsync("n", "NOOP");
        Assert.Contains("* VANISHED 2:3", r);
        Assert.DoesNotContain(r, l => l.EndsWith("EXPUNGE", StringComparison.Ordinal));

        // This session's own EXPUNGE: VANISHED, and the tagged OK carries HIGHESTMODSEQ.
        await raw.CommandAsync("st", "UID STORE 5 +FLAGS.SILENT (\\Deleted)");
        r = await raw.CommandAsync("x", "EXPUNGE");
        Assert.Contains("* VANISHED 5", r);
        var box = (await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "INBOX"))!;
        Assert.Equal($"x OK [HIGHESTMODSEQ {box.HighestModSeq}] EXPUNGE completed", r[^1]);

        // Every FETCH response carries the UID once QRESYNC is on, also for sequence-number FETCH and STORE.
        r = await raw.CommandAsync("f", "FETCH 2 (FLAGS)");
        Assert.Contains(r, l => l.StartsWith("* 2 FETCH (UID 4 ", StringComparison.Ordinal));
        r = await raw.CommandAsync("st2", "STORE 1 +FLAGS (\\Seen)");
        Assert.Contains(r, l => l.StartsWith("* 1 FETCH (UID 1 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Uid_fetch_changedsince_vanished_lists_expunged_uids_of_the_set()
    {
        await DeliverAsync(6);
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("e", "ENABLE QRESYNC");
        await raw.CommandAsync("s", "SELECT INBOX");
        var mark = (await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "INBOX"))!.HighestModSeq;
        await ExpungeInStoreAsync(2, 5);
        await _server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [4], FlagChange.Add, [Flags.Answered]);
        await raw.CommandAsync("n", "NOOP");

        var r = await raw.CommandAsync("f", $"UID FETCH 1:4 (FLAGS) (CHANGEDSINCE {mark} VANISHED)");
        Assert.StartsWith("f OK", r[^1]);
        Assert.Contains("* VANISHED (EARLIER) 2", r);
        var fetch = Assert.Single(r, l => l.StartsWith("* ", StringComparison.Ordinal) && l.Contains(" FETCH ", StringComparison.Ordinal));
        Assert.StartsWith("* 3 FETCH (UID 4 FLAGS (\\Answered) MODSEQ (", fetch);
    }

    [Fact]
    public async Task Qresync_syntax_outside_its_rules_is_bad()
    {
        await DeliverAsync(1);
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        Assert.StartsWith("s BAD", (await raw.CommandAsync("s", "SELECT INBOX (QRESYNC (1 1))"))[^1]);
        await raw.CommandAsync("s2", "SELECT INBOX");
        Assert.StartsWith("f BAD", (await raw.CommandAsync("f", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"))[^1]);
        await raw.CommandAsync("e", "ENABLE QRESYNC");
        Assert.StartsWith("f2 BAD", (await raw.CommandAsync("f2", "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"))[^1]);
        Assert.StartsWith("f3 BAD", (await raw.CommandAsync("f3", "UID FETCH 1:* (FLAGS) (VANISHED)"))[^1]);
        Assert.StartsWith("s3 BAD", (await raw.CommandAsync("s3", "SELECT INBOX (QRESYNC (0 1))"))[^1]);
        // A BAD SELECT leaves the mailbox selected.
        Assert.StartsWith("f4 OK", (await raw.CommandAsync("f4", "FETCH 1 (FLAGS)"))[^1]);
    }
}
