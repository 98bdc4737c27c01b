namespace Mail.Imap.Tests;

/// <summary>The command engine over a bare socket: grammar, literals, states, bad input.</summary>
public sealed class ProtocolTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Greeting_and_capability_advertise_rev2_rev1_and_extensions()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        Assert.StartsWith("* OK [CAPABILITY ", c.Greeting);
        var r = await c.CommandAsync("a1", "CAPABILITY");
        var caps = r.Single(l => l.StartsWith("* CAPABILITY ", StringComparison.Ordinal)).Split(' ');
        foreach (var cap in new[] { "IMAP4rev1", "IMAP4rev2", "LITERAL+", "IDLE", "UIDPLUS", "MOVE", "CONDSTORE", "SPECIAL-USE", "STARTTLS", "AUTH=PLAIN", "ESEARCH", "SEARCHRES", "LIST-STATUS" })
            Assert.Contains(cap, caps);
        Assert.DoesNotContain("LOGINDISABLED", caps); // loopback in embedded mode
        Assert.Equal("a1 OK CAPABILITY completed", r[^1]);
    }

    [Theory]
    [InlineData("a1 FOO", "a1 BAD Unknown command FOO")]
    [InlineData("a1", "a1 BAD Missing command name")]
    [InlineData("a1 LOGIN", "a1 BAD Missing argument")]
    [InlineData("a1 LOGIN \"unterminated", "a1 BAD Unterminated quoted string")]
    [InlineData("a1 CAPABILITY extra", "a1 BAD Unexpected characters")]
    [InlineData("a1 SELECT INBOX", "a1 BAD SELECT is not valid in the not authenticated state")]
    [InlineData("a1 FETCH 1 FLAGS", "a1 BAD FETCH is not valid in the not authenticated state")]
    public async Task Malformed_or_misplaced_commands_get_BAD_with_a_reason(string command, string expectedPrefix)
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.SendLineAsync(command);
        var r = await c.ReadUntilTaggedAsync("a1");
        Assert.StartsWith(expectedPrefix, r[^1]);
        // The session survives bad input.
        Assert.StartsWith("a2 OK", (await c.CommandAsync("a2", "NOOP"))[^1]);
    }

    [Fact]
    public async Task Garbage_without_tag_gets_untagged_BAD()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.SendLineAsync("");
        Assert.StartsWith("* BAD", await c.ReadLineAsync());
        await c.SendLineAsync("+bad NOOP");
        Assert.StartsWith("* BAD", await c.ReadLineAsync());
    }

    [Fact]
    public async Task Synchronizing_literal_gets_continuation_and_login_succeeds()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.SendLineAsync($"a1 LOGIN {{{ImapTestServer.Alice.Length}}}");
        Assert.StartsWith("+ ", await c.ReadLineAsync());
        await c.SendLineAsync($"{ImapTestServer.Alice} \"{ImapTestServer.Password}\"");
        var r = await c.ReadUntilTaggedAsync("a1");
        Assert.StartsWith("a1 OK", r[^1]);
    }

    [Fact]
    public async Task Non_synchronizing_literal_plus_needs_no_continuation()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.SendAsync($"a1 LOGIN {{{ImapTestServer.Alice.Length}+}}\r\n{ImapTestServer.Alice} {{{ImapTestServer.Password.Length}+}}\r\n{ImapTestServer.Password}\r\n");
        var r = await c.ReadUntilTaggedAsync("a1");
        Assert.DoesNotContain(r, l => l.StartsWith('+'));
        Assert.StartsWith("a1 OK", r[^1]);
    }

    [Fact]
    public async Task Literal_over_the_cap_is_refused_with_TOOBIG()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.LoginAsync();
        var r = await c.CommandAsync("a1", $"APPEND INBOX {{{_server.Options.MaxLiteralSize + 1}}}");
        Assert.StartsWith("a1 NO [TOOBIG]", r[^1]);
        Assert.StartsWith("a2 OK", (await c.CommandAsync("a2", "NOOP"))[^1]);

        await c.SendLineAsync($"a3 APPEND INBOX {{{_server.Options.MaxLiteralSize + 1}+}}");
        Assert.StartsWith("* BYE [TOOBIG]", await c.ReadLineAsync());
        Assert.Null(await c.ReadLineAsync());
    }

    [Fact]
    public async Task Overlong_line_is_refused_and_session_continues()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.SendLineAsync("a1 NOOP " + new string('x', _server.Options.MaxLineLength + 10));
        Assert.StartsWith("* BAD Command line longer", await c.ReadLineAsync());
        Assert.StartsWith("a2 OK", (await c.CommandAsync("a2", "NOOP"))[^1]);
    }

    [Fact]
    public async Task Wrong_password_is_refused_and_authenticate_plain_works_with_and_without_initial_response()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        Assert.StartsWith("a1 NO [AUTHENTICATIONFAILED]", (await c.CommandAsync("a1", $"LOGIN {ImapTestServer.Alice} wrong"))[^1]);
        var plain = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{ImapTestServer.Alice}\0{ImapTestServer.Password}"));
        await c.SendLineAsync("a2 AUTHENTICATE PLAIN");
        Assert.Equal("+ ", await c.ReadLineAsync());
        await c.SendLineAsync(plain);
        Assert.StartsWith("a2 OK", (await c.ReadUntilTaggedAsync("a2"))[^1]);

        await using var d = await RawImapClient.ConnectAsync(_server.Port);
        Assert.StartsWith("b1 OK", (await d.CommandAsync("b1", "AUTHENTICATE PLAIN " + plain))[^1]);
        await using var e = await RawImapClient.ConnectAsync(_server.Port);
        Assert.StartsWith("c1 BAD", (await e.CommandAsync("c1", "AUTHENTICATE PLAIN not*base64"))[^1]);
    }

    [Fact]
    public async Task Logout_says_bye()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        var r = await c.CommandAsync("a1", "LOGOUT");
        Assert.Equal("* BYE Logging out", r[0]);
        Assert.Equal("a1 OK LOGOUT completed", r[^1]);
        Assert.Null(await c.ReadLineAsync());
    }

    [Fact]
    public async Task Id_enable_namespace()
    {
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        var r = await c.CommandAsync("a1", "ID (\"name\" \"test\" \"version\" NIL)");
        Assert.StartsWith("* ID (\"name\" \"Mail.Imap\"", r[0]);
        await c.LoginAsync();
        r = await c.CommandAsync("a2", "ENABLE IMAP4rev2 CONDSTORE X-UNKNOWN");
        Assert.Equal("* ENABLED IMAP4rev2 CONDSTORE", r[0]);
        r = await c.CommandAsync("a3", "NAMESPACE");
        Assert.Equal("* NAMESPACE ((\"\" \"/\")) NIL NIL", r[0]);
    }

    [Fact]
    public async Task Bad_sequence_sets_and_fetch_items_get_BAD()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("one"));
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.LoginAsync();
        await c.CommandAsync("s", "SELECT INBOX");
        Assert.StartsWith("a1 BAD", (await c.CommandAsync("a1", "FETCH 0 FLAGS"))[^1]);
        Assert.StartsWith("a2 BAD", (await c.CommandAsync("a2", "FETCH 1:x FLAGS"))[^1]);
        Assert.StartsWith("a3 BAD Unknown FETCH item", (await c.CommandAsync("a3", "FETCH 1 (FLAGS BOGUS)"))[^1]);
        Assert.StartsWith("a4 BAD Message sequence number out of range", (await c.CommandAsync("a4", "FETCH 5 FLAGS"))[^1]);
        Assert.StartsWith("a5 BAD Unknown SEARCH key", (await c.CommandAsync("a5", "SEARCH FOO"))[^1]);
        Assert.StartsWith("a6 BAD", (await c.CommandAsync("a6", "STORE 1 +FLAGS (\\Bogus)"))[^1]);
        Assert.StartsWith("a7 BAD", (await c.CommandAsync("a7", "FETCH 1 BODY[1.]"))[^1]);
    }

    [Fact]
    public async Task Mailbox_commands_answer_NO_with_response_codes()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("one"));
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.LoginAsync();
        Assert.StartsWith("a1 NO [ALREADYEXISTS]", (await c.CommandAsync("a1", "CREATE Sent"))[^1]);
        Assert.StartsWith("a2 NO [ALREADYEXISTS]", (await c.CommandAsync("a2", "CREATE inbox"))[^1]);
        Assert.StartsWith("a3 NO", (await c.CommandAsync("a3", "DELETE INBOX"))[^1]);
        Assert.StartsWith("a4 NO [NONEXISTENT]", (await c.CommandAsync("a4", "SELECT NoSuch"))[^1]);
        Assert.StartsWith("a5 NO [NONEXISTENT]", (await c.CommandAsync("a5", "DELETE NoSuch"))[^1]);
        Assert.StartsWith("a6 NO [TRYCREATE]", (await c.CommandAsync("a6", "APPEND NoSuch {3+}\r\nabc"))[^1]);
        var r = await c.CommandAsync("a7", "SELECT inbox");
        Assert.Contains("* 1 EXISTS", r);
        Assert.Contains(r, l => l.StartsWith("* OK [UIDVALIDITY ", StringComparison.Ordinal));
        Assert.Contains(r, l => l.StartsWith("* OK [UIDNEXT 2]", StringComparison.Ordinal));
        Assert.Contains(r, l => l.StartsWith("* OK [HIGHESTMODSEQ ", StringComparison.Ordinal));
        Assert.Contains(r, l => l.StartsWith("* OK [PERMANENTFLAGS (", StringComparison.Ordinal));
        Assert.Contains("* 0 RECENT", r); // IMAP4rev1 client
        Assert.StartsWith("a7 OK [READ-WRITE]", r[^1]);
        Assert.StartsWith("a8 NO [TRYCREATE]", (await c.CommandAsync("a8", "COPY 1 NoSuch"))[^1]);
        Assert.StartsWith("a9 NO [TRYCREATE]", (await c.CommandAsync("a9", "MOVE 1 NoSuch"))[^1]);
        Assert.StartsWith("b1 OK", (await c.CommandAsync("b1", "UNSELECT"))[^1]);
        Assert.StartsWith("b2 BAD", (await c.CommandAsync("b2", "FETCH 1 FLAGS"))[^1]);
    }

    [Fact]
    public async Task List_extended_special_use_and_status_return()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("one"));
        await using var c = await RawImapClient.ConnectAsync(_server.Port);
        await c.LoginAsync();
        await c.CommandAsync("c1", "CREATE Work/Reports");
        var r = await c.CommandAsync("a1", "LIST \"\" \"\"");
        Assert.Equal("* LIST (\\Noselect) \"/\" \"\"", r[0]);
        r = await c.CommandAsync("a2", "LIST \"\" %");
        Assert.Equal("* LIST (\\HasNoChildren) \"/\" \"INBOX\"", r[0]);
        Assert.Contains("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"", r);
        Assert.Contains("* LIST (\\HasChildren) \"/\" \"Work\"", r);
        Assert.DoesNotContain(r, l => l.Contains("Reports", StringComparison.Ordinal)); // % stops at the delimiter
        r = await c.CommandAsync("a3", "LIST (SPECIAL-USE) \"\" *");
        Assert.Equal(5, r.Count(l => l.StartsWith("* LIST", StringComparison.Ordinal)));
        r = await c.CommandAsync("a4", "LIST \"\" INBOX RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))");
        Assert.Contains("* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 1 UIDNEXT 2)", r);
        await c.CommandAsync("a5", "SUBSCRIBE Work/Reports");
        r = await c.CommandAsync("a6", "LSUB \"\" *");
        Assert.Contains("* LSUB () \"/\" \"Work/Reports\"", r);
        r = await c.CommandAsync("a7", "LIST (SUBSCRIBED) \"\" Work/*");
        Assert.Contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work/Reports\"", r);
        r = await c.CommandAsync("a8", "STATUS INBOX (MESSAGES DELETED SIZE HIGHESTMODSEQ)");
        Assert.Matches(@"^\* STATUS ""INBOX"" \(MESSAGES 1 DELETED 0 SIZE \d+ HIGHESTMODSEQ \d+\)$", r[0]);
    }

    [Fact]
    public async Task Unauthenticated_session_times_out_with_bye()
    {
        await using var quick = await ImapTestServer.StartAsync(o => o.UnauthenticatedTimeout = TimeSpan.FromMilliseconds(500));
        await using var c = await RawImapClient.ConnectAsync(quick.Port);
        Assert.Equal("* BYE Autologout; idle for too long", await c.ReadLineAsync(TimeSpan.FromSeconds(10)));
        Assert.Null(await c.ReadLineAsync());
    }

    [Fact]
    public async Task Failed_logins_are_throttled_per_user_and_per_address()
    {
        await using var s = await ImapTestServer.StartAsync(o => o.MaxFailedLogins = 3);
        await using var c = await RawImapClient.ConnectAsync(s.Port);
        for (var i = 0; i < 3; i++)
            Assert.StartsWith($"f{i} NO [AUTHENTICATIONFAILED]", (await c.CommandAsync($"f{i}", $"LOGIN {ImapTestServer.Alice} wrong{i}"))[^1]);
        // Now even the right password is refused, for this user and from this address.
        Assert.StartsWith("g1 NO [UNAVAILABLE]", (await c.CommandAsync("g1", $"LOGIN {ImapTestServer.Alice} {ImapTestServer.Password}"))[^1]);
        await using var d = await RawImapClient.ConnectAsync(s.Port);
        Assert.StartsWith("g2 NO [UNAVAILABLE]", (await d.CommandAsync("g2", $"LOGIN {ImapTestServer.Bob} {ImapTestServer.Password}"))[^1]);

        // From another address: alice is still locked (per user), bob is not.
        await using var e = await RawImapClient.ConnectAsync(s.Port, "127.0.0.2");
        Assert.StartsWith("h1 NO [UNAVAILABLE]", (await e.CommandAsync("h1", $"LOGIN {ImapTestServer.Alice} {ImapTestServer.Password}"))[^1]);
        Assert.StartsWith("h2 OK", (await e.CommandAsync("h2", $"LOGIN {ImapTestServer.Bob} {ImapTestServer.Password}"))[^1]);
    }

    [Fact]
    public async Task Connections_over_the_limit_are_refused_with_bye()
    {
        await using var s = await ImapTestServer.StartAsync(o => o.MaxConnections = 2);
        await using var a = await RawImapClient.ConnectAsync(s.Port);
        await using var b = await RawImapClient.ConnectAsync(s.Port);
        Assert.StartsWith("* OK", b.Greeting);
        await using var c = await RawImapClient.ConnectAsync(s.Port);
        Assert.StartsWith("* BYE Too many connections", c.Greeting);
    }

    [Fact]
    public async Task Server_stop_says_bye_to_sessions()
    {
        var s = await ImapTestServer.StartAsync();
        await using var c = await RawImapClient.ConnectAsync(s.Port);
        await c.LoginAsync();
        await s.DisposeAsync();
        Assert.Equal("* BYE Server shutting down", await c.ReadLineAsync());
    }
}
