namespace Mail.Imap.Tests;

/// <summary>FETCH responses checked octet for octet against a known MIME message.</summary>
public sealed class FetchTests : IAsyncLifetime
{
    private const string Raw =
        "From: \"Dora D\" <dora@example.org>\r\n" +
        "To: alice@example.test, Group: g1@example.org, g2@example.org;\r\n" +
        "Subject: =?utf-8?q?caf=C3=A9?=\r\n" +
        "Date: Tue, 03 Mar 2026 09:00:00 +0100\r\n" +
        "Message-ID: <m1@example.org>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: multipart/mixed; boundary=\"XX\"\r\n" +
        "\r\n" +
        "preamble\r\n" +
        "--XX\r\n" +
        "Content-Type: text/plain; charset=us-ascii\r\n" +
        "\r\n" +
        "hello\r\nworld\r\n" +
        "--XX\r\n" +
        "Content-Type: application/octet-stream\r\n" +
        "Content-Transfer-Encoding: base64\r\n" +
        "Content-Disposition: attachment; filename=\"a.bin\"\r\n" +
        "\r\n" +
        "AAECAw==\r\n" +
        "--XX\r\n" +
        "Content-Type: message/rfc822\r\n" +
        "\r\n" +
        "From: x@example.org\r\n" +
        "Subject: inner\r\n" +
        "\r\n" +
        "inner body\r\n" +
        "--XX--\r\n" +
        "epilogue\r\n";

    private ImapTestServer _server = null!;
    private RawImapClient _c = null!;

    public async Task InitializeAsync()
    {
        _server = await ImapTestServer.StartAsync();
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw, date: new DateTimeOffset(2026, 3, 3, 9, 0, 5, TimeSpan.FromHours(1)));
        _c = await RawImapClient.ConnectAsync(_server.Port);
        await _c.LoginAsync();
        await _c.CommandAsync("s", "EXAMINE INBOX");
    }

    public async Task DisposeAsync()
    {
        await _c.DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<string> FetchAsync(string items)
    {
        var r = await _c.CommandAsync("f", "FETCH 1 " + items);
        Assert.StartsWith("f OK", r[^1]);
        return string.Join("\r\n", r.Take(r.Count - 1));
    }

    private static string Literal(string s) => $"{{{s.Length}}}\r\n{s}";

    [Fact]
    public async Task Fast_items()
    {
        Assert.Equal($"* 1 FETCH (UID 1 FLAGS () INTERNALDATE \" 3-Mar-2026 08:00:05 +0000\" RFC822.SIZE {Raw.Length})",
            await FetchAsync("(UID FLAGS INTERNALDATE RFC822.SIZE)"));
    }

    [Fact]
    public async Task Envelope_keeps_encoded_words_and_groups()
    {
        Assert.Equal(
            "* 1 FETCH (ENVELOPE (\"Tue, 03 Mar 2026 09:00:00 +0100\" \"=?utf-8?q?caf=C3=A9?=\" " +
            "((\"Dora D\" NIL \"dora\" \"example.org\")) ((\"Dora D\" NIL \"dora\" \"example.org\")) ((\"Dora D\" NIL \"dora\" \"example.org\")) " +
            "((NIL NIL \"alice\" \"example.test\")(NIL NIL \"Group\" NIL)(NIL NIL \"g1\" \"example.org\")(NIL NIL \"g2\" \"example.org\")(NIL NIL NIL NIL)) " +
            "NIL NIL NIL \"<m1@example.org>\"))",
            await FetchAsync("ENVELOPE"));
    }

    [Fact]
    public async Task Bodystructure_describes_every_part()
    {
        var bs = await FetchAsync("BODYSTRUCTURE");
        Assert.StartsWith("* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 2 NIL NIL NIL NIL)" +
            "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a.bin\")) NIL NIL)" +
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 49 (NIL \"inner\" ((NIL NIL \"x\" \"example.org\"))", bs);
        Assert.EndsWith(" \"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL))", bs);
        var body = await FetchAsync("BODY");
        Assert.StartsWith("* 1 FETCH (BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 2)", body);
    }

    [Theory]
    [InlineData("BODY.PEEK[1]", "BODY[1]", "hello\r\nworld")]
    [InlineData("BODY.PEEK[1.MIME]", "BODY[1.MIME]", "Content-Type: text/plain; charset=us-ascii\r\n\r\n")]
    [InlineData("BODY.PEEK[2]", "BODY[2]", "AAECAw==")]
    [InlineData("BODY.PEEK[3]", "BODY[3]", "From: x@example.org\r\nSubject: inner\r\n\r\ninner body")]
    [InlineData("BODY.PEEK[3.HEADER]", "BODY[3.HEADER]", "From: x@example.org\r\nSubject: inner\r\n\r\n")]
    [InlineData("BODY.PEEK[3.TEXT]", "BODY[3.TEXT]", "inner body")]
    [InlineData("BODY.PEEK[3.1]", "BODY[3.1]", "inner body")]
    [InlineData("BODY.PEEK[HEADER.FIELDS (SUBJECT message-id)]", "BODY[HEADER.FIELDS (SUBJECT message-id)]", "Subject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <m1@example.org>\r\n\r\n")]
    [InlineData("BODY.PEEK[1]<2.3>", "BODY[1]<2>", "llo")]
    [InlineData("BODY.PEEK[1]<100.3>", "BODY[1]<100>", "")]
    [InlineData("BINARY.PEEK[2]", "BINARY[2]", "\u0000\u0001\u0002\u0003")]
    public async Task Sections(string item, string label, string expected)
    {
        var r = await FetchAsync(item);
        var literal = expected.Contains('\0') ? "~" + Literal(expected) : Literal(expected);
        Assert.Equal($"* 1 FETCH ({label} {literal})", r);
    }

    [Fact]
    public async Task Header_and_text_and_whole_message()
    {
        var headerEnd = Raw.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        Assert.Equal($"* 1 FETCH (BODY[HEADER] {Literal(Raw[..headerEnd])})", await FetchAsync("BODY.PEEK[HEADER]"));
        Assert.Equal($"* 1 FETCH (BODY[TEXT] {Literal(Raw[headerEnd..])})", await FetchAsync("BODY.PEEK[TEXT]"));
        Assert.Equal($"* 1 FETCH (BODY[] {Literal(Raw)})", await FetchAsync("BODY.PEEK[]"));
        Assert.Equal($"* 1 FETCH (RFC822.HEADER {Literal(Raw[..headerEnd])})", await FetchAsync("RFC822.HEADER"));
        Assert.Equal("* 1 FETCH (BINARY.SIZE[2] 4)", await FetchAsync("BINARY.SIZE[2]"));
        Assert.Equal("* 1 FETCH (BODY[9] NIL)", await FetchAsync("BODY.PEEK[9]"));
    }

    [Fact]
    public async Task Search_returns_esearch_when_asked_and_for_rev2()
    {
        var r = await _c.CommandAsync("x1", "SEARCH RETURN (MIN MAX COUNT) ALL");
        Assert.Equal("* ESEARCH (TAG \"x1\") MIN 1 MAX 1 COUNT 1", r[0]);
        r = await _c.CommandAsync("x2", "UID SEARCH RETURN () SUBJECT café");
        Assert.Equal("* ESEARCH (TAG \"x2\") UID ALL 1", r[0]);
        r = await _c.CommandAsync("x3", "SEARCH CHARSET UTF-8 TEXT \"inner body\"");
        Assert.Equal("* SEARCH 1", r[0]);
        r = await _c.CommandAsync("x4", "SEARCH CHARSET KOI8-R ALL");
        Assert.StartsWith("x4 NO [BADCHARSET", r[^1]);
        await _c.CommandAsync("e", "ENABLE IMAP4rev2");
        r = await _c.CommandAsync("x5", "SEARCH SENTON 3-Mar-2026 HEADER Message-ID m1");
        Assert.Equal("* ESEARCH (TAG \"x5\") ALL 1", r[0]);
        r = await _c.CommandAsync("x6", "SEARCH SENTBEFORE 1-Jan-2020");
        Assert.Equal("* ESEARCH (TAG \"x6\")", r[0]);
    }
}
