using System.Text;
using MailKit;
using MailKit.Search;

namespace Mail.Imap.Tests;

/// <summary>
/// A message whose header has lines that are not header fields (an mbox "From " line first, a line without a colon
/// further down): FETCH answers as Dovecot does, the fields that are there and NIL for the rest, and never fails. The
/// messages go in by APPEND over a socket, as a client importing an mbox file would send them.
/// </summary>
public sealed class MalformedHeaderTests : IAsyncLifetime
{
    private const string MboxFirst =
        "From carol@example.org Mon Mar  2 10:00:00 2026\r\n" +
        "From: Carol <carol@example.org>\r\n" +
        "Subject: after an mbox line\r\n" +
        "\r\n" +
        "body one\r\n";

    private const string NoColonInside =
        "Subject: before\r\n" +
        "this line is not a field\r\n" +
        "From: dave@example.org\r\n" +
        "Message-ID: <m2@example.org>\r\n" +
        "\r\n" +
        "body two\r\n";

    private const string NothingButGarbage =
        "no header here at all\r\n" +
        "\r\n" +
        "body three\r\n";

    private ImapTestServer _server = null!;
    private RawImapClient _c = null!;

    public async Task InitializeAsync()
    {
        _server = await ImapTestServer.StartAsync();
        _c = await RawImapClient.ConnectAsync(_server.Port);
        await _c.LoginAsync();
        foreach (var message in new[] { MboxFirst, NoColonInside, NothingButGarbage })
        {
            await _c.SendAsync($"a APPEND INBOX {{{Encoding.UTF8.GetByteCount(message)}+}}\r\n{message}\r\n");
            Assert.StartsWith("a OK", (await _c.ReadUntilTaggedAsync("a"))[^1]);
        }
        Assert.StartsWith("s OK", (await _c.CommandAsync("s", "SELECT INBOX"))[^1]);
    }

    public async Task DisposeAsync()
    {
        await _c.DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<string> FetchAsync(int seq, string items)
    {
        var r = await _c.CommandAsync("f", $"FETCH {seq} {items}");
        Assert.Equal("f OK FETCH completed", r[^1]);
        return string.Join("\r\n", r.Take(r.Count - 1));
    }

    [Fact]
    public async Task Envelope_of_an_mbox_message_skips_the_From_line()
    {
        Assert.Equal(
            "* 1 FETCH (ENVELOPE (NIL \"after an mbox line\" ((\"Carol\" NIL \"carol\" \"example.org\")) ((\"Carol\" NIL \"carol\" \"example.org\")) " +
            "((\"Carol\" NIL \"carol\" \"example.org\")) NIL NIL NIL NIL NIL))",
            await FetchAsync(1, "ENVELOPE"));
    }

    [Fact]
    public async Task Envelope_reads_the_fields_after_a_line_without_a_colon()
    {
        Assert.Equal(
            "* 2 FETCH (ENVELOPE (NIL \"before\" ((NIL NIL \"dave\" \"example.org\")) ((NIL NIL \"dave\" \"example.org\")) " +
            "((NIL NIL \"dave\" \"example.org\")) NIL NIL NIL NIL \"<m2@example.org>\"))",
            await FetchAsync(2, "ENVELOPE"));
        Assert.Equal("* 3 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))", await FetchAsync(3, "ENVELOPE"));
    }

    [Theory]
    [InlineData(1, MboxFirst, "body one\r\n")]
    [InlineData(2, NoColonInside, "body two\r\n")]
    [InlineData(3, NothingButGarbage, "body three\r\n")]
    public async Task Bodystructure_header_and_whole_message_are_answered(int seq, string raw, string body)
    {
        var bodyLines = body.Split("\r\n").Length - 1;
        Assert.Equal(
            $"* {seq} FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" {body.Length} {bodyLines} NIL NIL NIL NIL))",
            await FetchAsync(seq, "BODYSTRUCTURE"));
        var header = raw[..(raw.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)];
        // The client reads line by line: the literal's own line endings, then ")" on a line of its own.
        Assert.Equal($"* {seq} FETCH (BODY[HEADER] {{{header.Length}}}\r\n{header})", await FetchAsync(seq, "BODY.PEEK[HEADER]"));
        Assert.Equal($"* {seq} FETCH (BODY[TEXT] {{{body.Length}}}\r\n{body})", await FetchAsync(seq, "BODY.PEEK[TEXT]"));
        Assert.Equal($"* {seq} FETCH (BODY[] {{{raw.Length}}}\r\n{raw})", await FetchAsync(seq, "BODY.PEEK[]"));
    }

    [Fact]
    public async Task A_mail_client_syncs_and_searches_the_mailbox()
    {
        using var client = await _server.ConnectAliceAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var all = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure | MessageSummaryItems.Flags);
        Assert.Equal(["after an mbox line", "before", null], all.Select(m => m.Envelope!.Subject));
        Assert.All(all, m => Assert.True(m.Body!.ContentType.IsMimeType("text", "plain")));
        Assert.Equal(2, (await client.Inbox.SearchAsync(SearchQuery.FromContains("example.org"))).Count);
        Assert.Single(await client.Inbox.SearchAsync(SearchQuery.SubjectContains("mbox")));
        var whole = await client.Inbox.GetStreamAsync(all[0].UniqueId);
        using var reader = new StreamReader(whole);
        Assert.Equal(MboxFirst, await reader.ReadToEndAsync());
    }
}

/// <summary>The parts under <see cref="MalformedHeaderTests"/>: the header parser and the MIME parse, each alone.</summary>
public sealed class MalformedHeaderPartsTests
{
    [Theory]
    [InlineData("From carol@example.org Mon Mar  2 10:00:00 2026\r\nSubject: s\r\n\r\n", 49, "Subject")]
    [InlineData("no colon\r\n continued\r\nSubject: s\r\n\r\n", 22, "Subject")]
    [InlineData("Subject: s\r\nno colon\r\n\r\n", 0, "Subject|no colon\r\n")] // further down: MimeKit's own field
    [InlineData("no header here at all\r\n\r\n", 23, "")]
    public void Leading_lines_that_are_not_fields_are_left_out(string header, int leading, string fields)
    {
        var bytes = Encoding.ASCII.GetBytes(header);
        Assert.Equal(leading, Mail.Core.Messages.HeaderBlock.LeadingNonFields(bytes));
        Assert.Equal(fields, string.Join('|', Mail.Core.Messages.HeaderBlock.Parse(bytes).Select(h => h.Field)));
    }

    [Theory]
    [InlineData("Subject: s\r\n", true)]
    [InlineData("Subject : s\r\n", true)]
    [InlineData("From carol@example.org Mon Mar  2 10:00:00 2026\r\n", false)]
    [InlineData(": no name\r\n", false)]
    [InlineData(" folded\r\n", false)]
    public void A_field_starts_with_a_name_and_a_colon(string line, bool field) =>
        Assert.Equal(field, Mail.Core.Messages.HeaderBlock.StartsField(Encoding.ASCII.GetBytes(line)));

    [Fact]
    public async Task A_message_whose_first_line_is_not_a_field_keeps_its_offsets()
    {
        const string raw = "junk line\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" +
            "more junk\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n";
        using var pm = await Mail.Imap.Messages.ParsedMessage.LoadAsync(new MemoryStream(Encoding.ASCII.GetBytes(raw)), default);
        var top = pm.Of(pm.Message);
        Assert.Equal(raw.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4, top.HeadersEnd);
        Assert.Equal("junk line\r\n", Encoding.ASCII.GetString(await pm.ReadAsync(0, 11, default))); // the stored octets
        var structure = Mail.Imap.Messages.Structure.Body(pm, extensible: false, utf8: false);
        Assert.StartsWith("((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" ", structure, StringComparison.Ordinal);
        Assert.EndsWith(" \"MIXED\")", structure, StringComparison.Ordinal);
    }
}
