using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace Mail.Imap.Tests;

/// <summary>What a session is told about its selected mailbox when it or another session changes it: EXISTS,
/// EXPUNGE, FLAGS and \Recent, each before the tagged OK of the command that caused it (imaptest's scripted files
/// append, move, expunge, select, copy, search-flags and its stress mode check the same).</summary>
public sealed class SessionStateTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<ImapClient> ConnectAsync() => _server.ConnectAliceAsync();

    private static MimeMessage Message(string subject) =>
        new() { Subject = subject, From = { new MailboxAddress("Carol", "carol@example.org") }, Body = new TextPart("plain") { Text = "hi" } };

    [Fact]
    public async Task Append_to_the_selected_mailbox_reports_exists_before_its_ok()
    {
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(0, client.Inbox.Count);
        var uid = await client.Inbox.AppendAsync(Message("appended"), MessageFlags.Seen);
        Assert.Equal(1, client.Inbox.Count); // no NOOP needed
        var summary = (await client.Inbox.FetchAsync(0, 0, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags))[0];
        Assert.Equal(uid, summary.UniqueId);
        Assert.True(summary.Flags!.Value.HasFlag(MessageFlags.Seen));
    }

    [Fact]
    public async Task Move_within_the_selected_mailbox_expunges_the_old_uid_and_reports_the_new_one()
    {
        for (var i = 0; i < 2; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var expunged = new List<int>();
        client.Inbox.MessageExpunged += (_, e) => expunged.Add(e.Index);
        var moved = await client.Inbox.MoveToAsync(new UniqueId(1), client.Inbox);
        Assert.Equal([0], expunged);
        Assert.Equal(2, client.Inbox.Count);
        var uids = await client.Inbox.SearchAsync(SearchQuery.All);
        Assert.Equal([2u, moved!.Value.Id], uids.Select(u => u.Id));
    }

    [Fact]
    public async Task A_second_session_sees_the_other_sessions_flags_in_its_store_reply_and_expunges_in_its_own_expunge()
    {
        for (var i = 0; i < 2; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
        using var a = await ConnectAsync();
        using var b = await ConnectAsync();
        await a.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await b.Inbox.OpenAsync(FolderAccess.ReadWrite);

        await a.Inbox.AddFlagsAsync(0, MessageFlags.Deleted, true);
        var flags = new Dictionary<int, MessageFlags>();
        b.Inbox.MessageFlagsChanged += (_, e) => flags[e.Index] = e.Flags;
        await b.Inbox.AddFlagsAsync(0, MessageFlags.Seen, false); // B's STORE reply carries A's \Deleted
        Assert.True(flags[0].HasFlag(MessageFlags.Deleted) && flags[0].HasFlag(MessageFlags.Seen), flags[0].ToString());

        await a.Inbox.ExpungeAsync();
        var expunged = new List<int>();
        b.Inbox.MessageExpunged += (_, e) => expunged.Add(e.Index);
        await b.Inbox.ExpungeAsync(); // removes nothing itself, but reports A's expunge
        Assert.Equal([0], expunged);
        Assert.Equal(1, b.Inbox.Count);
    }

    [Fact]
    public async Task Recent_belongs_to_the_first_session_that_selects_and_examine_does_not_take_it()
    {
        using var a = await ConnectAsync();
        var folder = (await a.GetFolder(a.PersonalNamespaces[0]).CreateAsync("R", true))!;
        await folder.AppendAsync(Message("one"));
        await folder.AppendAsync(Message("two"));

        await folder.OpenAsync(FolderAccess.ReadOnly);
        Assert.Equal(2, folder.Recent); // EXAMINE shows them but leaves them recent
        await folder.CloseAsync();
        var status = await ReadStatusRecentAsync("R");
        Assert.Equal(2, status);

        await folder.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(2, folder.Recent);
        Assert.Equal(2, (await folder.SearchAsync(SearchQuery.Recent)).Count);
        Assert.Empty(await folder.SearchAsync(SearchQuery.Old));
        var summary = (await folder.FetchAsync(0, 0, MessageSummaryItems.Flags))[0];
        Assert.True(summary.Flags!.Value.HasFlag(MessageFlags.Recent));

        using var b = await ConnectAsync();
        var other = await b.GetFolderAsync("R");
        await other.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(0, other.Recent); // a claimed them
        Assert.Equal(2, (await other.SearchAsync(SearchQuery.Old)).Count);

        // New mail goes to the session that sees it first, and its RECENT count follows expunges.
        await _server.DeliverAsync(ImapTestServer.Alice, "R", ImapTestServer.Message("three"));
        await b.NoOpAsync();
        Assert.Equal(1, other.Recent);
        await a.NoOpAsync();
        Assert.Equal(2, folder.Recent);
        await folder.AddFlagsAsync(0, MessageFlags.Deleted, true);
        await folder.ExpungeAsync();
        Assert.Equal(1, folder.Recent);
        Assert.Equal(0, await ReadStatusRecentAsync("R"));
    }

    private async Task<int> ReadStatusRecentAsync(string mailbox)
    {
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        var r = await raw.CommandAsync("s", $"STATUS {mailbox} (RECENT)");
        var line = Assert.Single(r, l => l.StartsWith("* STATUS", StringComparison.Ordinal));
        return int.Parse(line[(line.LastIndexOf("RECENT ", StringComparison.Ordinal) + 7)..].TrimEnd(')'), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_new_keyword_is_announced_in_flags_before_the_fetch_that_shows_it()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("m"));
        await using var watcher = await RawImapClient.ConnectAsync(_server.Port);
        await watcher.LoginAsync();
        var selected = await watcher.CommandAsync("s", "SELECT INBOX");
        Assert.Contains(@"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)", selected);

        using var actor = await ConnectAsync();
        await actor.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await actor.Inbox.AddFlagsAsync(0, MessageFlags.None, new HashSet<string> { "$Label7" }, true);

        var r = await watcher.CommandAsync("n", "NOOP");
        var flags = r.FindIndex(l => l.StartsWith("* FLAGS (", StringComparison.Ordinal) && l.Contains("$Label7", StringComparison.Ordinal));
        var permanent = r.FindIndex(l => l.StartsWith("* OK [PERMANENTFLAGS (", StringComparison.Ordinal) && l.Contains("$Label7", StringComparison.Ordinal));
        var fetch = r.FindIndex(l => l.StartsWith("* 1 FETCH", StringComparison.Ordinal) && l.Contains("$Label7", StringComparison.Ordinal));
        Assert.True(flags >= 0 && permanent >= 0 && fetch > flags && fetch > permanent, string.Join('\n', r));

        // The session's own STORE announces its new keyword the same way, once.
        r = await watcher.CommandAsync("t", "STORE 1 +FLAGS ($Other)");
        Assert.Single(r, l => l.StartsWith("* FLAGS (", StringComparison.Ordinal) && l.Contains("$Other", StringComparison.Ordinal));
        r = await watcher.CommandAsync("f", "FETCH 1 FLAGS");
        Assert.DoesNotContain(r, l => l.StartsWith("* FLAGS", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_session_on_a_mailbox_is_told_the_same_keywords_even_one_no_message_has_any_more()
    {
        // imaptest's checkpoint compares the sessions' keyword lists: a keyword set and cleared again between two
        // commands of one session, or before another session selected, must still reach both.
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("m"));
        await using var early = await RawImapClient.ConnectAsync(_server.Port);
        await early.LoginAsync();
        await early.CommandAsync("s", "SELECT INBOX");

        await using var actor = await RawImapClient.ConnectAsync(_server.Port);
        await actor.LoginAsync();
        await actor.CommandAsync("s", "SELECT INBOX");
        var set = await actor.CommandAsync("a", "STORE 1 +FLAGS ($Label5)");
        Assert.Contains(set, l => l.StartsWith("* FLAGS (", StringComparison.Ordinal) && l.Contains("$Label5", StringComparison.Ordinal));
        await actor.CommandAsync("b", "STORE 1 -FLAGS ($Label5)");

        var noop = await early.CommandAsync("n", "NOOP");
        Assert.Contains(noop, l => l.StartsWith("* FLAGS (", StringComparison.Ordinal) && l.Contains("$Label5", StringComparison.Ordinal));

        await using var late = await RawImapClient.ConnectAsync(_server.Port);
        await late.LoginAsync();
        var selected = await late.CommandAsync("s", "SELECT INBOX");
        Assert.Contains(selected, l => l.StartsWith("* FLAGS (", StringComparison.Ordinal) && l.Contains("$Label5", StringComparison.Ordinal));
        Assert.Contains(selected, l => l.StartsWith("* OK [PERMANENTFLAGS (", StringComparison.Ordinal) && l.Contains("$Label5", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Multiappend_stores_every_message_or_none()
    {
        using var client = await ConnectAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.MultiAppend));
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var uids = await client.Inbox.AppendAsync(
            [new AppendRequest(Message("one"), MessageFlags.Seen), new AppendRequest(Message("two"), MessageFlags.Flagged)]);
        Assert.Equal([1u, 2u], uids.Select(u => u.Id));
        Assert.Equal(2, client.Inbox.Count);

        // One bad message (an unknown system flag) and the first is not stored either.
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.SendLineAsync("a APPEND INBOX {8+}");
        await raw.SendAsync("Subject:");
        await raw.SendLineAsync(" (\\Bogus) {8+}");
        await raw.SendLineAsync("Subject:");
        var r = await raw.ReadUntilTaggedAsync("a");
        Assert.StartsWith("a BAD", r[^1]);
        Assert.Equal(2, (await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "INBOX"))!.MessageCount);
    }
}
