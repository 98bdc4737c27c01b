namespace Mail.Imap.Tests;

/// <summary>NOTIFY (RFC 5465) over raw sockets: one session asks to be notified, another (or a delivery into the
/// store) changes things; the first hears of it without sending a command.</summary>
public sealed class NotifyTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<RawImapClient> LoginAsync()
    {
        var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        return raw;
    }

    /// <summary>Reads untagged lines until one satisfies <paramref name="wanted"/>; the lines read on the way are returned too.</summary>
    private static async Task<List<string>> ReadUntilAsync(RawImapClient raw, Func<string, bool> wanted)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await raw.ReadLineAsync(TimeSpan.FromSeconds(10)) ?? throw new IOException("closed; got " + string.Join(" | ", lines));
            lines.Add(line);
            if (wanted(line)) return lines;
        }
    }

    [Fact]
    public async Task Set_status_reports_the_items_of_the_events_asked_for_and_without_status_nothing()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "Sent", ImapTestServer.Message("one"));
        var box = (await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "Sent"))!;
        await using var raw = await LoginAsync();
        Assert.Contains("NOTIFY", raw.Greeting + string.Join(' ', await raw.CommandAsync("c", "CAPABILITY")));

        var r = await raw.CommandAsync("a", "NOTIFY SET STATUS (mailboxes Sent (MessageExpunge))");
        Assert.Equal(["* STATUS \"Sent\" (MESSAGES 1)", "a OK NOTIFY completed"], r);
        r = await raw.CommandAsync("b", "NOTIFY SET STATUS (mailboxes Sent (MessageNew MessageExpunge))");
        Assert.Equal($"* STATUS \"Sent\" (MESSAGES 1 UIDNEXT {box.UidNext} UIDVALIDITY {box.UidValidity})", r[0]);
        r = await raw.CommandAsync("c", "NOTIFY SET STATUS (mailboxes Sent (FlagChange))");
        Assert.Equal($"* STATUS \"Sent\" (UIDVALIDITY {box.UidValidity} HIGHESTMODSEQ {box.HighestModSeq})", r[0]);
        r = await raw.CommandAsync("d", "NOTIFY SET (mailboxes Sent (MessageNew MessageExpunge FlagChange))");
        Assert.Equal(["d OK NOTIFY completed"], r);
        // The selected mailbox is never told of by STATUS; only mailboxes the filter names are.
        await raw.CommandAsync("s", "SELECT INBOX");
        r = await raw.CommandAsync("e", "NOTIFY SET STATUS (personal (MessageNew MessageExpunge))");
        Assert.DoesNotContain(r, l => l.StartsWith("* STATUS \"INBOX\"", StringComparison.Ordinal));
        Assert.Contains(r, l => l.StartsWith("* STATUS \"Junk\" (MESSAGES 0 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Changes_by_another_session_arrive_without_a_command()
    {
        await using var watcher = await LoginAsync();
        await using var actor = await LoginAsync();
        Assert.StartsWith("n OK", (await watcher.CommandAsync("n", "NOTIFY SET (personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))"))[^1]);

        await _server.DeliverAsync(ImapTestServer.Alice, "Archive", ImapTestServer.Message("new"));
        var box = (await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "Archive"))!;
        var lines = await ReadUntilAsync(watcher, l => l.StartsWith("* STATUS \"Archive\"", StringComparison.Ordinal));
        Assert.Equal($"* STATUS \"Archive\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {box.UidValidity} HIGHESTMODSEQ {box.HighestModSeq})", lines[^1]);

        await actor.CommandAsync("c", "CREATE Projects");
        Assert.Equal("* LIST () \"/\" \"Projects\"", (await ReadUntilAsync(watcher, l => l.StartsWith("* LIST", StringComparison.Ordinal)))[^1]);
        await actor.CommandAsync("r", "RENAME Projects Done");
        Assert.Equal("* LIST () \"/\" \"Done\" (\"OLDNAME\" (\"Projects\"))", (await ReadUntilAsync(watcher, l => l.StartsWith("* LIST", StringComparison.Ordinal)))[^1]);
        // Toggle the subscription, whatever CREATE left it as.
        var subscribed = (await _server.Mailboxes.ListSubscriptionsAsync(ImapTestServer.Alice)).Contains("Done");
        await actor.CommandAsync("u", subscribed ? "UNSUBSCRIBE Done" : "SUBSCRIBE Done");
        Assert.Equal(subscribed ? "* LIST () \"/\" \"Done\"" : "* LIST (\\Subscribed) \"/\" \"Done\"",
            (await ReadUntilAsync(watcher, l => l.StartsWith("* LIST", StringComparison.Ordinal)))[^1]);
        await actor.CommandAsync("d", "DELETE Done");
        Assert.Equal("* LIST (\\NonExistent) \"/\" \"Done\"", (await ReadUntilAsync(watcher, l => l.StartsWith("* LIST", StringComparison.Ordinal)))[^1]);

        // NOTIFY NONE: nothing more; the next command's answer is only its own.
        await watcher.CommandAsync("x", "NOTIFY NONE");
        await _server.DeliverAsync(ImapTestServer.Alice, "Archive", ImapTestServer.Message("unheard"));
        await Task.Delay(600); // several poll intervals, in which nothing may arrive
        Assert.Equal(["y OK NOOP completed"], await watcher.CommandAsync("y", "NOOP"));
    }

    [Fact]
    public async Task Filters_limit_the_mailboxes_and_events()
    {
        await using var watcher = await LoginAsync();
        await using var actor = await LoginAsync();
        await actor.CommandAsync("c", "CREATE Lists/Dev");
        await watcher.CommandAsync("n", "NOTIFY SET (subtree Lists (MessageNew MessageExpunge)) (mailboxes Drafts (MailboxName))");
        await _server.DeliverAsync(ImapTestServer.Alice, "Junk", ImapTestServer.Message("not watched"));
        await _server.DeliverAsync(ImapTestServer.Alice, "Lists/Dev", ImapTestServer.Message("watched"));
        var lines = await ReadUntilAsync(watcher, l => l.StartsWith("* STATUS", StringComparison.Ordinal));
        Assert.StartsWith("* STATUS \"Lists/Dev\" (MESSAGES 1 UIDNEXT 2 ", lines[^1]);
        await actor.CommandAsync("k", "CREATE Kept");
        Assert.Equal(["z OK NOOP completed"], await watcher.CommandAsync("z", "NOOP"));
    }

    [Fact]
    public async Task Selected_filter_fetches_new_messages_with_the_attributes_asked_for()
    {
        await using var watcher = await LoginAsync();
        await watcher.CommandAsync("s", "SELECT INBOX");
        await watcher.CommandAsync("n", "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge)) (personal (MessageNew MessageExpunge))");
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("arrives"));
        var lines = await ReadUntilAsync(watcher, l => l.Contains(" FETCH ", StringComparison.Ordinal));
        Assert.Contains("* 1 EXISTS", lines);
        Assert.Equal("* 1 FETCH (UID 1 FLAGS (\\Recent))", lines[^1]);
        Assert.DoesNotContain(lines, l => l.StartsWith("* STATUS", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unsupported_events_get_badevent_and_bad_syntax_bad()
    {
        await using var raw = await LoginAsync();
        var r = await raw.CommandAsync("a", "NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))");
        Assert.Equal("a NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)] Event not supported: ANNOTATIONCHANGE", r[^1]);
        Assert.StartsWith("b BAD", (await raw.CommandAsync("b", "NOTIFY SET (nowhere (MessageNew))"))[^1]);
        Assert.StartsWith("c BAD", (await raw.CommandAsync("c", "NOTIFY SET (selected (MailboxName))"))[^1]);
        Assert.StartsWith("d BAD", (await raw.CommandAsync("d", "NOTIFY SET (personal (MessageNew (FLAGS) MessageExpunge))"))[^1]);
        Assert.StartsWith("e BAD", (await raw.CommandAsync("e", "NOTIFY"))[^1]);
        Assert.StartsWith("f OK", (await raw.CommandAsync("f", "NOTIFY SET (inboxes NONE)"))[^1]);
    }
}
