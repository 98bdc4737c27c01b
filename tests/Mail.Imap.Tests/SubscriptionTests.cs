using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Mail.Imap.Tests;

/// <summary>
/// Subscriptions as a list of names apart from the mailboxes (RFC 9051 6.3.7/6.3.8, RFC 3501 6.3.6-6.3.9) and the
/// LIST-EXTENDED selection and return options that read them (RFC 5258: SUBSCRIBED, REMOTE, RECURSIVEMATCH with
/// CHILDINFO, RETURN (SUBSCRIBED CHILDREN), several patterns), over a bare socket and through MailKit.
/// </summary>
public sealed class SubscriptionTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<RawImapClient> LoginAsync()
    {
        var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.LoginAsync();
        return c;
    }

    private static async Task OkAsync(RawImapClient c, params string[] commands)
    {
        var i = 0;
        foreach (var command in commands)
        {
            var tag = "k" + i++;
            var r = await c.CommandAsync(tag, command);
            Assert.True(r[^1].StartsWith(tag + " OK", StringComparison.Ordinal), $"{command}: {r[^1]}");
        }
    }

    /// <summary>The untagged LIST/LSUB lines of a reply, without the tagged one.</summary>
    private static List<string> Lines(List<string> reply) => reply.Where(l => l.StartsWith("* ", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task Create_does_not_subscribe_delete_keeps_the_subscription_and_a_missing_name_can_be_subscribed()
    {
        await using var c = await LoginAsync();
        await OkAsync(c, "CREATE Lists/dev");
        Assert.Empty(Lines(await c.CommandAsync("a", "LSUB \"\" Lists*")));

        await OkAsync(c, "SUBSCRIBE Lists/dev", "SUBSCRIBE Lists/never-created", "DELETE Lists/dev");
        var r = await c.CommandAsync("b", "LIST (SUBSCRIBED) \"\" Lists/*");
        Assert.Equal(["* LIST (\\NonExistent \\Subscribed) \"/\" \"Lists/dev\"", "* LIST (\\NonExistent \\Subscribed) \"/\" \"Lists/never-created\""], Lines(r));
        Assert.Equal("b OK LIST completed", r[^1]);

        // Plain LIST shows what exists, subscribed or not: the parent CREATE made, not the deleted child.
        Assert.Equal(["* LIST (\\HasNoChildren) \"/\" \"Lists\""], Lines(await c.CommandAsync("c", "LIST \"\" Lists*")));

        // LSUB (IMAP4rev1) lists both names; neither can be selected.
        Assert.Equal(["* LSUB (\\Noselect) \"/\" \"Lists/dev\"", "* LSUB (\\Noselect) \"/\" \"Lists/never-created\""],
            Lines(await c.CommandAsync("d", "LSUB \"\" Lists/*")));

        await OkAsync(c, "UNSUBSCRIBE Lists/dev", "UNSUBSCRIBE Lists/dev");
        Assert.Equal(["* LSUB (\\Noselect) \"/\" \"Lists/never-created\""], Lines(await c.CommandAsync("e", "LSUB \"\" Lists/*")));
    }

    [Fact]
    public async Task Lsub_percent_returns_an_unsubscribed_parent_of_a_subscribed_child_as_noselect()
    {
        await using var c = await LoginAsync();
        await OkAsync(c, "CREATE rm/x", "CREATE rm2/child", "SUBSCRIBE rm/x", "SUBSCRIBE rm2/child");
        // RFC 3501 6.3.9: rm2 exists but is not subscribed; "%" stops at it, so it is shown as \Noselect.
        Assert.Equal(["* LSUB (\\Noselect) \"/\" \"rm\"", "* LSUB (\\Noselect) \"/\" \"rm2\""], Lines(await c.CommandAsync("a", "LSUB \"\" rm%")));
        // "*" reaches the subscribed children themselves: no parents.
        Assert.Equal(["* LSUB () \"/\" \"rm/x\"", "* LSUB () \"/\" \"rm2/child\""], Lines(await c.CommandAsync("b", "LSUB \"\" rm*")));
        await OkAsync(c, "SUBSCRIBE rm2");
        Assert.Equal(["* LSUB (\\Noselect) \"/\" \"rm\"", "* LSUB () \"/\" \"rm2\""], Lines(await c.CommandAsync("c", "LSUB \"\" rm%")));
    }

    [Fact]
    public async Task Another_session_sees_subscription_changes_at_once()
    {
        await using var first = await LoginAsync();
        await using var second = await LoginAsync();
        await OkAsync(first, "SUBSCRIBE Shared/news");
        Assert.Equal(["* LSUB (\\Noselect) \"/\" \"Shared/news\""], Lines(await second.CommandAsync("a", "LSUB \"\" Shared/%")));
        await OkAsync(first, "UNSUBSCRIBE Shared/news");
        Assert.Empty(Lines(await second.CommandAsync("b", "LSUB \"\" Shared/%")));
    }

    [Fact]
    public async Task Recursivematch_returns_childinfo_only_for_subscribed_descendants_no_pattern_matches()
    {
        await using var c = await LoginAsync();
        await OkAsync(c, "CREATE seven/seven", "CREATE eight/eight", "CREATE eight/nine", "CREATE t/c/x",
            "SUBSCRIBE seven/seven", "SUBSCRIBE eight/eight", "SUBSCRIBE eight/nine", "SUBSCRIBE t/c/x", "SUBSCRIBE t/c");

        // seven's subscribed child seven/seven matches the pattern itself: seven is not returned.
        Assert.Equal(["* LIST (\\HasNoChildren \\Subscribed) \"/\" \"seven/seven\""], Lines(await c.CommandAsync("a", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *seven")));
        // eight/nine is subscribed and matches no pattern: eight (not subscribed) is returned with CHILDINFO.
        Assert.Equal(
        [
            "* LIST (\\HasChildren) \"/\" \"eight\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"eight/eight\"",
        ], Lines(await c.CommandAsync("b", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *eight RETURN (CHILDREN)")));
        // Several patterns: a child matching any of them is returned itself, and its parent is not.
        Assert.Equal(["* LIST (\\HasChildren \\Subscribed) \"/\" \"t/c\"", "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"t/c/x\""],
            Lines(await c.CommandAsync("c", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (t/c t/c/x)")));
        // A subscribed parent with a subscribed child the pattern does not reach: \Subscribed and CHILDINFO.
        Assert.Equal(["* LIST (\\HasChildren \\Subscribed) \"/\" \"t/c\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"],
            Lines(await c.CommandAsync("d", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" t/c")));
        // Without RECURSIVEMATCH: only the subscribed names, no CHILDINFO.
        Assert.Equal(["* LIST (\\HasChildren \\Subscribed) \"/\" \"t/c\""], Lines(await c.CommandAsync("e", "LIST (SUBSCRIBED) \"\" t/%")));
    }

    [Fact]
    public async Task Return_subscribed_marks_subscribed_mailboxes_of_a_plain_list_and_several_patterns_list_each_name_once()
    {
        await using var c = await LoginAsync();
        await OkAsync(c, "CREATE p/one", "CREATE p/two/deep", "CREATE p/three", "SUBSCRIBE p/one", "SUBSCRIBE p/two/deep");
        Assert.Equal(
        [
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"p/one\"",
            "* LIST (\\HasNoChildren) \"/\" \"p/three\"",
            "* LIST (\\HasChildren) \"/\" \"p/two\"",
        ], Lines(await c.CommandAsync("a", "LIST \"\" p/% RETURN (CHILDREN SUBSCRIBED)")));
        Assert.Equal(
        [
            "* LIST (\\HasNoChildren) \"/\" \"p/one\"",
            "* LIST (\\HasNoChildren) \"/\" \"p/three\"",
            "* LIST (\\HasChildren) \"/\" \"p/two\"",
            "* LIST (\\HasNoChildren) \"/\" \"p/two/deep\"",
        ], Lines(await c.CommandAsync("b", "LIST \"\" (p/t* p/%e p/two)")));
        // REMOTE is accepted; there are only local mailboxes.
        Assert.Equal(Lines(await c.CommandAsync("d", "LIST \"\" p/%")), Lines(await c.CommandAsync("e", "LIST (REMOTE) \"\" p/%")));
    }

    [Theory]
    [InlineData("LIST (imaptest) \"\" \"\"")]
    [InlineData("LIST (RECURSIVEMATCH) \"\" %")]
    [InlineData("LIST (RECURSIVEMATCH REMOTE) \"\" %")]
    [InlineData("LIST \"\" % RETURN (imaptest)")]
    public async Task Unknown_or_incomplete_options_get_bad(string command)
    {
        await using var c = await LoginAsync();
        Assert.StartsWith("a BAD", (await c.CommandAsync("a", command))[^1]);
    }

    [Fact]
    public async Task MailKit_sees_subscribed_folders_including_one_that_no_longer_exists()
    {
        using var client = new ImapClient { Timeout = 15000 };
        await client.ConnectAsync("127.0.0.1", _server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var kept = await root.CreateAsync("Kept", true);
        var gone = await root.CreateAsync("Gone", true);
        Assert.DoesNotContain(await client.GetFoldersAsync(client.PersonalNamespaces[0], StatusItems.None, true), f => f.FullName is "Kept" or "Gone");
        await kept!.SubscribeAsync();
        await gone!.SubscribeAsync();
        await gone.DeleteAsync();

        var subscribed = await client.GetFoldersAsync(client.PersonalNamespaces[0], StatusItems.None, true);
        Assert.Contains(subscribed, f => f.FullName == "Kept" && f.IsSubscribed && !f.Attributes.HasFlag(FolderAttributes.NonExistent));
        Assert.Contains(subscribed, f => f.FullName == "Gone" && f.IsSubscribed
            && (f.Attributes.HasFlag(FolderAttributes.NonExistent) || f.Attributes.HasFlag(FolderAttributes.NoSelect)));
        Assert.Contains(subscribed, f => f.FullName == "INBOX"); // the standard mailboxes start subscribed
    }
}
