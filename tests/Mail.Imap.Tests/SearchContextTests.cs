namespace Mail.Imap.Tests;

/// <summary>
/// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4) over bare sockets: one session keeps a SEARCH or SORT
/// RETURN (UPDATE) live while another session (or a delivery) changes the mailbox; PARTIAL windows; CANCELUPDATE.
/// </summary>
public sealed class SearchContextTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await ImapTestServer.StartAsync(o => o.IdlePollInterval = TimeSpan.FromMilliseconds(100));
        // UIDs equal sequence numbers in a fresh mailbox.
        foreach (var subject in new[] { "blue", "red", "green", "red", "blue" })
            await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message(subject));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<RawImapClient> SelectInboxAsync() => RawImapClient.SelectAsync(_server.Port);

    private static async Task OkAsync(RawImapClient c, string tag, string command) =>
        Assert.StartsWith($"{tag} OK", (await c.CommandAsync(tag, command))[^1]);

    private static List<string> Esearch(List<string> lines) =>
        lines.Where(l => l.StartsWith("* ESEARCH", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task Search_update_follows_another_sessions_store_expunge_and_append()
    {
        await using var watcher = await SelectInboxAsync();
        await using var actor = await SelectInboxAsync();
        Assert.Contains("CONTEXT=SEARCH", (await watcher.CommandAsync("c", "CAPABILITY"))[0]);

        var r = await watcher.CommandAsync("w1", "SEARCH RETURN (UPDATE ALL) FLAGGED");
        Assert.Equal(["* ESEARCH (TAG \"w1\")"], Esearch(r)); // nothing flagged yet: no ALL
        Assert.Equal("w1 OK SEARCH completed", r[^1]);

        await OkAsync(actor, "a1", "STORE 1,3,4 +FLAGS (\\Flagged)");
        r = await watcher.CommandAsync("n1", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w1\") ADDTO (0 1,3:4)"], Esearch(r));
        Assert.True(r.FindIndex(l => l.Contains("FETCH")) < r.FindIndex(l => l.StartsWith("* ESEARCH", StringComparison.Ordinal)));

        await OkAsync(actor, "a2", "STORE 1 -FLAGS (\\Flagged)");
        r = await watcher.CommandAsync("n2", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w1\") REMOVEFROM (0 1)"], Esearch(r));

        // A flag change that leaves the result as it was says nothing.
        await OkAsync(actor, "a3", "STORE 3 +FLAGS (\\Seen)");
        r = await watcher.CommandAsync("n3", "NOOP");
        Assert.Empty(Esearch(r));

        // RFC 5267 4.3.4: the REMOVEFROM comes before the EXPUNGE, while the message number is still valid.
        await OkAsync(actor, "a4", "STORE 3 +FLAGS (\\Deleted)");
        await OkAsync(actor, "a5", "EXPUNGE");
        r = await watcher.CommandAsync("n4", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w1\") REMOVEFROM (0 3)"], Esearch(r));
        Assert.True(r.IndexOf("* ESEARCH (TAG \"w1\") REMOVEFROM (0 3)") < r.IndexOf("* 3 EXPUNGE"));

        // RFC 5267 4.3.3: the ADDTO of a new message comes after its EXISTS.
        await actor.SendLineAsync("a6 APPEND INBOX (\\Flagged) {" + ImapTestServer.Message("new").Length + "+}");
        await actor.SendAsync(ImapTestServer.Message("new") + "\r\n");
        Assert.StartsWith("a6 OK", (await actor.ReadUntilTaggedAsync("a6"))[^1]);
        r = await watcher.CommandAsync("n5", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w1\") ADDTO (0 5)"], Esearch(r));
        Assert.True(r.IndexOf("* 5 EXISTS") < r.IndexOf("* ESEARCH (TAG \"w1\") ADDTO (0 5)"));

        // The result as a fresh search sees it: 3 (was 4) and 5.
        Assert.Contains("* ESEARCH (TAG \"x\") ALL 3,5", await watcher.CommandAsync("x", "SEARCH RETURN (ALL) FLAGGED"));
    }

    [Fact]
    public async Task Uid_search_update_reports_the_sessions_own_changes_in_uids()
    {
        await using var c = await SelectInboxAsync();
        var r = await c.CommandAsync("u1", "UID SEARCH RETURN (UPDATE ALL) SEEN");
        Assert.Equal(["* ESEARCH (TAG \"u1\") UID"], Esearch(r));

        r = await c.CommandAsync("a1", "STORE 2,5 +FLAGS (\\Seen)");
        Assert.Equal(["* ESEARCH (TAG \"u1\") UID ADDTO (0 2,5)"], Esearch(r));
        Assert.Equal("a1 OK STORE completed", r[^1]);

        await OkAsync(c, "a2", "STORE 1 +FLAGS (\\Deleted)");
        r = await c.CommandAsync("a3", "EXPUNGE");
        Assert.Empty(Esearch(r)); // message 1 was not in the result
        r = await c.CommandAsync("a4", "STORE 1 +FLAGS (\\Deleted)"); // now UID 2
        Assert.Empty(Esearch(r));
        r = await c.CommandAsync("a5", "EXPUNGE");
        Assert.Equal(["* ESEARCH (TAG \"u1\") UID REMOVEFROM (0 2)", "* 1 EXPUNGE"], r.Where(l => l.StartsWith("* ESEARCH", StringComparison.Ordinal) || l.EndsWith(" EXPUNGE", StringComparison.Ordinal)).ToList());
    }

    [Fact]
    public async Task Sort_update_gives_positions_in_the_sorted_result()
    {
        await using var watcher = await SelectInboxAsync();
        await using var actor = await SelectInboxAsync();
        Assert.Contains("CONTEXT=SORT", (await watcher.CommandAsync("c", "CAPABILITY"))[0]);
        await OkAsync(actor, "a0", "STORE 2,5 +FLAGS (\\Flagged)");
        await OkAsync(watcher, "n0", "NOOP"); // a SORT works on what the session has seen so far

        var r = await watcher.CommandAsync("w1", "SORT RETURN (UPDATE ALL) (SUBJECT) US-ASCII FLAGGED");
        Assert.Equal(["* ESEARCH (TAG \"w1\") ALL 5,2"], Esearch(r)); // blue, red

        await OkAsync(actor, "a1", "STORE 3 +FLAGS (\\Flagged)"); // green sorts between them
        r = await watcher.CommandAsync("n1", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w1\") ADDTO (2 3)"], Esearch(r));

        await OkAsync(actor, "a2", "STORE 1,4 +FLAGS (\\Flagged)"); // blue 1 before blue 5; red 4 after red 2
        r = await watcher.CommandAsync("n2", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w1\") ADDTO (1 1 5 4)"], Esearch(r)); // 1,5,3,2,4

        await OkAsync(actor, "a3", "STORE 5,3 -FLAGS (\\Flagged)");
        r = await watcher.CommandAsync("n3", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w1\") REMOVEFROM (2 5,3)"], Esearch(r)); // in result order; leaves 1,2,4
        Assert.Contains("* ESEARCH (TAG \"x\") ALL 1:2,4", await watcher.CommandAsync("x", "SORT RETURN (ALL) (SUBJECT) US-ASCII FLAGGED"));
    }

    [Fact]
    public async Task An_idle_session_hears_of_a_delivery_that_joins_its_result()
    {
        await using var watcher = await SelectInboxAsync();
        await watcher.CommandAsync("w1", "UID SEARCH RETURN (UPDATE) SUBJECT urgent");
        await watcher.SendLineAsync("i IDLE");
        Assert.StartsWith("+", await watcher.ReadLineAsync());
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("urgent: read me"));
        var lines = new List<string>();
        while (lines.Count == 0 || !lines[^1].StartsWith("* ESEARCH", StringComparison.Ordinal))
            lines.Add(await watcher.ReadLineAsync(TimeSpan.FromSeconds(10)) ?? throw new IOException("closed: " + string.Join(" | ", lines)));
        Assert.Equal("* ESEARCH (TAG \"w1\") UID ADDTO (0 6)", lines[^1]);
        Assert.Contains("* 6 EXISTS", lines);
        await watcher.SendLineAsync("DONE");
        Assert.StartsWith("i OK", (await watcher.ReadUntilTaggedAsync("i"))[^1]);
    }

    [Fact]
    public async Task Condstore_sessions_get_the_modseq_of_the_change()
    {
        await using var watcher = await SelectInboxAsync();
        await using var actor = await SelectInboxAsync();
        await OkAsync(watcher, "e", "ENABLE CONDSTORE");
        await OkAsync(actor, "e", "ENABLE CONDSTORE");
        await watcher.CommandAsync("w1", "SEARCH RETURN (UPDATE) DRAFT");
        var r = await actor.CommandAsync("a1", "STORE 4 +FLAGS (\\Draft)");
        var modSeq = System.Text.RegularExpressions.Regex.Match(string.Join('\n', r), @"MODSEQ \((\d+)\)");
        Assert.True(modSeq.Success, string.Join(" | ", r));
        r = await watcher.CommandAsync("n1", "NOOP");
        Assert.Equal([$"* ESEARCH (TAG \"w1\") ADDTO (0 4) MODSEQ {modSeq.Groups[1].Value}"], Esearch(r));
    }

    [Fact]
    public async Task Cancelupdate_stops_updates_and_reselecting_ends_them()
    {
        await using var watcher = await SelectInboxAsync();
        await using var actor = await SelectInboxAsync();
        await watcher.CommandAsync("w1", "SEARCH RETURN (UPDATE) FLAGGED");
        await watcher.CommandAsync("w2", "SEARCH RETURN (UPDATE COUNT) FLAGGED");

        // RFC 5267 4.3: UPDATE with the tag of a live context is rejected with BAD.
        Assert.StartsWith("w1 BAD", (await watcher.CommandAsync("w1", "SEARCH RETURN (UPDATE) SEEN"))[^1]);
        Assert.StartsWith("c0 NO", (await watcher.CommandAsync("c0", "CANCELUPDATE \"nope\""))[^1]);
        Assert.StartsWith("c1 BAD", (await watcher.CommandAsync("c1", "CANCELUPDATE"))[^1]);
        await OkAsync(watcher, "c2", "CANCELUPDATE \"w1\"");

        await OkAsync(actor, "a1", "STORE 1 +FLAGS (\\Flagged)");
        var r = await watcher.CommandAsync("n1", "NOOP");
        Assert.Equal(["* ESEARCH (TAG \"w2\") ADDTO (0 1)"], Esearch(r)); // UPDATE COUNT notifies all changes (4.3)

        await OkAsync(watcher, "s2", "SELECT INBOX");
        await OkAsync(actor, "a2", "STORE 2 +FLAGS (\\Flagged)");
        r = await watcher.CommandAsync("n2", "NOOP");
        Assert.Empty(Esearch(r));
        Assert.StartsWith("c3 NO", (await watcher.CommandAsync("c3", "CANCELUPDATE \"w2\""))[^1]);
    }

    [Fact]
    public async Task Too_many_contexts_get_noupdate_but_still_their_result()
    {
        await using var c = await SelectInboxAsync();
        for (var i = 0; i < 10; i++) await OkAsync(c, $"t{i}", "SEARCH RETURN (UPDATE) SEEN");
        var r = await c.CommandAsync("t10", "SEARCH RETURN (UPDATE COUNT) ALL");
        Assert.Contains(r, l => l.StartsWith("* NO [NOUPDATE \"t10\"]", StringComparison.Ordinal));
        Assert.Contains("* ESEARCH (TAG \"t10\") COUNT 5", r);
        Assert.Equal("t10 OK SEARCH completed", r[^1]);
    }

    [Fact]
    public async Task Partial_returns_a_window_of_the_search_or_sort_result()
    {
        await using var c = await SelectInboxAsync();
        Assert.Contains("* ESEARCH (TAG \"p1\") PARTIAL (2:4 2:4)", await c.CommandAsync("p1", "SEARCH RETURN (PARTIAL 4:2) ALL"));
        Assert.Contains("* ESEARCH (TAG \"p2\") PARTIAL (2:3 4:5)", await c.CommandAsync("p2", "SEARCH RETURN (PARTIAL 2:3) 1,4:5"));
        Assert.Contains("* ESEARCH (TAG \"p3\") UID PARTIAL (6:9 NIL)", await c.CommandAsync("p3", "UID SEARCH RETURN (PARTIAL 6:9) ALL"));
        Assert.Contains("* ESEARCH (TAG \"p4\") PARTIAL (2:3 5,3) COUNT 5", // blue 1, blue 5, green 3, red 2, red 4
            await c.CommandAsync("p4", "SORT RETURN (PARTIAL 2:3 COUNT) (SUBJECT) US-ASCII ALL"));
        foreach (var bad in new[] { "PARTIAL 1", "PARTIAL 1:*", "PARTIAL 0:3", "PARTIAL 1:2 ALL", "PARTIAL 1:2 PARTIAL 3:4" })
            Assert.StartsWith("b BAD", (await c.CommandAsync("b", $"SEARCH RETURN ({bad}) ALL"))[^1]);
    }
}
