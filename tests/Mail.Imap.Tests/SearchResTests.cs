namespace Mail.Imap.Tests;

/// <summary>SEARCHRES (RFC 5182): SEARCH RETURN (SAVE) and the "$" marker, over a bare socket (MailKit cannot send "$").</summary>
public sealed class SearchResTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await ImapTestServer.StartAsync();
        // Five messages; "red" ones are 2 and 4 (UIDs equal sequence numbers in a fresh mailbox).
        foreach (var subject in new[] { "blue", "red", "green", "red", "blue" })
            await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message(subject));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<RawImapClient> SelectInboxAsync() => RawImapClient.SelectAsync(_server.Port);

    private static List<string> Untagged(List<string> lines, string prefix) =>
        lines.Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task Save_alone_sends_no_esearch_and_dollar_names_the_saved_messages_in_fetch_store_and_search()
    {
        await using var c = await SelectInboxAsync();
        var r = await c.CommandAsync("a", "UID SEARCH RETURN (SAVE) SUBJECT red");
        Assert.Equal("a OK UID SEARCH completed", r[^1]);
        Assert.Single(r); // RFC 5182 2.4: SAVE alone, no ESEARCH

        r = await c.CommandAsync("b", "FETCH $ (UID)");
        Assert.Equal(["* 2 FETCH (UID 2)", "* 4 FETCH (UID 4)"], Untagged(r, "* "));
        r = await c.CommandAsync("c", "UID FETCH $ (UID)");
        Assert.Equal(["* 2 FETCH (UID 2)", "* 4 FETCH (UID 4)"], Untagged(r, "* "));

        r = await c.CommandAsync("d", "STORE $ +FLAGS.SILENT (\\Flagged)");
        Assert.StartsWith("d OK", r[^1]);
        r = await c.CommandAsync("e", "SEARCH FLAGGED");
        Assert.Contains("* SEARCH 2 4", r);

        r = await c.CommandAsync("f", "SEARCH NOT $");
        Assert.Contains("* SEARCH 1 3 5", r);
        r = await c.CommandAsync("g", "UID SEARCH UID $");
        Assert.Contains("* SEARCH 2 4", r);
    }

    [Fact]
    public async Task Dollar_works_with_copy_and_move_and_follows_expunges()
    {
        await using var c = await SelectInboxAsync();
        Assert.StartsWith("k OK", (await c.CommandAsync("k", "CREATE Kept"))[^1]);
        await c.CommandAsync("a", "SEARCH RETURN (SAVE) OR SUBJECT red SUBJECT green");

        var r = await c.CommandAsync("b", "UID COPY $ Kept");
        Assert.StartsWith("b OK [COPYUID ", r[^1]);
        Assert.Contains(" 2:4 ", r[^1].Replace("2,3,4", "2:4"));

        r = await c.CommandAsync("m", "MOVE $ Kept");
        Assert.Equal(["* 4 EXPUNGE", "* 3 EXPUNGE", "* 2 EXPUNGE"], Untagged(r, "* ").Where(l => l.EndsWith("EXPUNGE")));
        // The moved messages left the mailbox, so "$" now names nothing: OK with no responses, not an error.
        r = await c.CommandAsync("f", "FETCH $ (UID)");
        Assert.Equal("f OK FETCH completed", r[^1]);
        Assert.Empty(Untagged(r, "* "));

        r = await c.CommandAsync("x", "EXAMINE Kept");
        r = await c.CommandAsync("y", "SEARCH ALL");
        Assert.Contains("* SEARCH 1 2 3 4 5 6", r);
    }

    [Fact]
    public async Task Save_with_min_or_max_keeps_only_those_and_still_answers_esearch()
    {
        await using var c = await SelectInboxAsync();
        var r = await c.CommandAsync("a", "SEARCH RETURN (MIN MAX SAVE) SUBJECT blue");
        Assert.Contains("* ESEARCH (TAG \"a\") MIN 1 MAX 5", r);
        r = await c.CommandAsync("b", "FETCH $ (UID)");
        Assert.Equal(["* 1 FETCH (UID 1)", "* 5 FETCH (UID 5)"], Untagged(r, "* "));

        r = await c.CommandAsync("c", "SEARCH RETURN (SAVE MIN COUNT) SUBJECT red");
        Assert.Contains("* ESEARCH (TAG \"c\") MIN 2 COUNT 2", r);
        r = await c.CommandAsync("d", "FETCH $ (UID)");
        Assert.Equal(["* 2 FETCH (UID 2)", "* 4 FETCH (UID 4)"], Untagged(r, "* ")); // with COUNT the whole result
    }

    [Theory]
    [InlineData("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL", "NO [BADCHARSET")]
    [InlineData("SEARCH RETURN (SAVE) NOSUCHKEY", "BAD ")]
    public async Task A_failed_save_search_empties_dollar(string failing, string reply)
    {
        await using var c = await SelectInboxAsync();
        await c.CommandAsync("a", "SEARCH RETURN (SAVE) ALL");
        Assert.Equal(5, Untagged(await c.CommandAsync("b", "FETCH $ (UID)"), "* ").Count);

        var r = await c.CommandAsync("c", failing);
        Assert.StartsWith("c " + reply, r[^1]);
        r = await c.CommandAsync("d", "FETCH $ (UID)");
        Assert.Equal("d OK FETCH completed", r[^1]);
        Assert.Empty(Untagged(r, "* "));
    }

    [Fact]
    public async Task Select_resets_dollar_and_dollar_inside_a_set_is_bad()
    {
        await using var c = await SelectInboxAsync();
        await c.CommandAsync("a", "SEARCH RETURN (SAVE) ALL");
        Assert.StartsWith("b BAD ", (await c.CommandAsync("b", "FETCH 1,$ (UID)"))[^1]);
        await c.CommandAsync("s2", "SELECT INBOX");
        var r = await c.CommandAsync("d", "UID FETCH $ (UID)");
        Assert.Equal("d OK UID FETCH completed", r[^1]);
        Assert.Empty(Untagged(r, "* "));
        // SAVE belongs to SEARCH; SORT refuses it with a reason.
        Assert.StartsWith("e BAD ", (await c.CommandAsync("e", "SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL"))[^1]);
    }
}
