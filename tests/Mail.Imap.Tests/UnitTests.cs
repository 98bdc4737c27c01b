using System.Text;
using Mail.Core.Messages;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using Mail.Imap.Session;

namespace Mail.Imap.Tests;

/// <summary>Unit tests of the small pure pieces (RFC vectors).</summary>
public sealed class UnitTests
{
    [Theory]
    [InlineData("日本語", "&ZeVnLIqe-")] // RFC 3501 5.1.3 example
    [InlineData("Entwürfe", "Entw&APw-rfe")]
    [InlineData("A&B", "A&-B")]
    [InlineData("plain", "plain")]
    public void Modified_utf7_encodes_and_decodes(string name, string wire)
    {
        Assert.Equal(wire, MailboxName.Encode(name, utf8: false));
        Assert.Equal(name, MailboxName.Decode(wire, utf8: false));
        Assert.Equal(name, MailboxName.Encode(name, utf8: true)); // UTF-8 clients get the name as is
    }

    [Fact]
    public void Bad_modified_utf7_is_an_invalid_name_not_a_parse_error() => // answered NO, not BAD (imaptest "atoms")
        Assert.Throws<InvalidMailboxNameException>(() => MailboxName.Decode("&ZeVn", utf8: false));

    [Theory]
    [InlineData("1:3,7,9:*", 10, new long[] { 1, 2, 3, 7, 9, 10 })]
    [InlineData("*", 4, new long[] { 4 })]
    [InlineData("5:2", 9, new long[] { 2, 3, 4, 5 })]
    public void Sequence_sets_resolve_star(string text, long max, long[] expected)
    {
        var set = SequenceSet.Parse(text);
        Assert.Equal(expected, Enumerable.Range(1, (int)max).Select(i => (long)i).Where(n => set.Contains(n, max)));
    }

    [Theory]
    [InlineData("*", "a/b/c", true)]
    [InlineData("%", "a/b", false)]
    [InlineData("%", "a", true)]
    [InlineData("a/%", "a/b", true)]
    [InlineData("a/%", "a/b/c", false)]
    [InlineData("a/*", "a/b/c", true)]
    [InlineData("a%c", "abc", true)]
    [InlineData("a%c", "a/c", false)]
    [InlineData("a*c", "a/b/c", true)]
    [InlineData("a*c", "a/b/cd", false)]
    [InlineData("%/%", "x/y", true)]
    [InlineData("", "", true)]
    [InlineData("", "a", false)]
    [InlineData("inbox", "INBOX", true)]
    [InlineData("Inbox/*", "INBOX/x", true)]
    [InlineData("inboxes", "INBOXES", false)] // only INBOX itself is case-insensitive
    [InlineData("Sent", "sent", false)]
    [InlineData("a.b", "aXb", false)] // no character but '*' and '%' is special
    [InlineData("*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false)]
    public void List_patterns_match_as_RFC_9051_describes(string pattern, string name, bool matches) =>
        Assert.Equal(matches, ListPattern.Matches(ListPattern.Normalize(pattern), name));

    [Fact]
    public void Sequence_sets_format_compactly() => Assert.Equal("1:3,7,9:10", SequenceSet.Format([1, 2, 3, 7, 9, 10]));

    [Theory]
    [InlineData("1,,2")]
    [InlineData("0")]
    [InlineData("a")]
    [InlineData("1,$")]
    [InlineData("$:3")]
    public void Bad_sequence_sets_are_parse_errors(string text) => Assert.Throws<ImapParseException>(() => SequenceSet.Parse(text));

    [Fact]
    public void Dollar_alone_is_the_saved_search_result_marker()
    {
        Assert.True(SequenceSet.Parse("$").IsSearchResult);
        Assert.False(SequenceSet.Parse("1:*").IsSearchResult);
    }

    [Theory]
    [InlineData("a LOGIN {5}", 5L, false, 3)]
    [InlineData("a APPEND INBOX {123+}", 123L, true, 6)]
    [InlineData("a APPEND INBOX ~{7}", 7L, false, 4)]
    public void Literal_suffixes(string line, long size, bool nonSync, int suffix)
    {
        Assert.True(CommandReader.TryLiteralSuffix(line, out var n, out var ns, out var len));
        Assert.Equal((size, nonSync, suffix), (n, ns, len));
    }

    [Theory]
    [InlineData("a NOOP")]
    [InlineData("a LOGIN \"{5}\"")]
    [InlineData("a X {}")]
    [InlineData("a X {1a}")]
    public void Not_literal_suffixes(string line) => Assert.False(CommandReader.TryLiteralSuffix(line, out _, out _, out _));

    [Fact]
    public void Dates_format_and_parse()
    {
        var d = new DateTimeOffset(1996, 7, 7, 2, 44, 25, TimeSpan.FromHours(-7));
        Assert.Equal(" 7-Jul-1996 02:44:25 -0700", ImapDate.FormatDateTime(d));
        Assert.True(ImapDate.TryParseDateTime("17-Jul-1996 02:44:25 -0700", out var p));
        Assert.Equal(new DateTimeOffset(1996, 7, 17, 2, 44, 25, TimeSpan.FromHours(-7)), p);
        Assert.False(ImapDate.TryParseDateTime("31-Feb-1996 02:44:25 -0700", out _));
        Assert.False(ImapDate.TryParseDate("1-Foo-2020", out _));
    }

    [Fact]
    public async Task Header_block_stops_at_the_empty_line_and_filters_fields()
    {
        var raw = "Subject: a\r\n folded\r\nFrom: x@y\r\nTo: z@w\r\n\r\nbody\r\n\r\nmore";
        var header = await HeaderBlock.ReadAsync(new MemoryStream(Encoding.ASCII.GetBytes(raw)), 4096, CancellationToken.None);
        Assert.Equal("Subject: a\r\n folded\r\nFrom: x@y\r\nTo: z@w\r\n\r\n", Encoding.ASCII.GetString(header));
        Assert.Equal("Subject: a\r\n folded\r\nTo: z@w\r\n\r\n", Encoding.ASCII.GetString(HeaderBlock.Filter(header, ["to", "SUBJECT"], not: false)));
        Assert.Equal("From: x@y\r\n\r\n", Encoding.ASCII.GetString(HeaderBlock.Filter(header, ["to", "SUBJECT"], not: true)));
        var none = await HeaderBlock.ReadAsync(new MemoryStream(Encoding.ASCII.GetBytes("\r\nbody only")), 4096, CancellationToken.None);
        Assert.Equal("\r\n", Encoding.ASCII.GetString(none));
    }

    [Fact]
    public void Options_validation_names_the_setting()
    {
        var o = new ImapServerOptions { Listeners = [new ImapListenerOptions { Name = "x", Endpoint = "nonsense" }] };
        Assert.Contains("Imap:Listeners:0:Endpoint", Assert.Throws<InvalidOperationException>(o.Validate).Message);
        o = new ImapServerOptions { Listeners = [new ImapListenerOptions { Name = "s", Endpoint = "127.0.0.1:0", ImplicitTls = true }] };
        Assert.Contains("Imap:Certificate", Assert.Throws<InvalidOperationException>(o.Validate).Message);
        o = new ImapServerOptions { Listeners = [new ImapListenerOptions()], IdlePollInterval = TimeSpan.FromSeconds(5) };
        Assert.Contains("Imap:IdlePollInterval", Assert.Throws<InvalidOperationException>(o.Validate).Message);
        Assert.Contains("Imap:Listeners", Assert.Throws<InvalidOperationException>(new ImapServerOptions().Validate).Message);
    }

    [Theory]
    [InlineData("hello  \r\nbar=\r\n\r\n", "hello\r\nbar\r\n")] // transport padding dropped; "=" CRLF is a soft break
    [InlineData("foo\t \t= \r\n=62\r\n", "foo\t \tb\r\n")] // "= " + CRLF is a soft break too
    [InlineData("foo = \t\r\nbar\r\n", "foo bar\r\n")]
    [InlineData("a=3Db=4\r\n", "a=b=4\r\n")] // "=" without two hex digits stays
    [InlineData("no break at end", "no break at end")]
    public void Quoted_printable_decodes_by_rfc_2045(string encoded, string decoded) =>
        Assert.Equal(decoded, Encoding.ASCII.GetString(QuotedPrintable.Decode(Encoding.ASCII.GetBytes(encoded))));

    [Theory]
    [InlineData("Re: hello", "hello")]
    [InlineData("RE: [list] Fwd: hello (fwd)", "hello")]
    [InlineData("[fwd: Re: hello]", "hello")]
    [InlineData("  re [x]:   hello   world  ", "hello world")]
    [InlineData("[only a blob]", "[only a blob]")] // a blob is kept when nothing would be left
    [InlineData("Reply to this", "Reply to this")]
    public void Base_subject_follows_rfc_5256(string subject, string expected) =>
        Assert.Equal(expected, BaseSubject.Extract(subject));
}
