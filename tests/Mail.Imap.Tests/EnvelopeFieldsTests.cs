using System.Text;
using Mail.Core.Messages;
using Mail.Imap.Messages;

namespace Mail.Imap.Tests;

/// <summary>The ENVELOPE from a raw header block (one scan, no MimeKit header list) is the ENVELOPE MimeKit's header
/// parser gives, field for field, including blocks the scan declines and hands to MimeKit.</summary>
public sealed class EnvelopeFieldsTests
{
    public static TheoryData<string> Blocks() =>
    [
        "From: Sender 1 <s1@example.org>\r\nTo: Bench User <bench@example.test>\r\nSubject: alpha beta #1\r\nDate: Wed, 01 Jan 2025 00:37:00 +0000\r\nMessage-ID: <bench-1@example.org>\r\nMIME-Version: 1.0\r\n\r\n",
        "from: a@b.c\r\nTO: x@y.z, \"Quoted, Name\" <q@y.z>\r\ncc: team@example.org,\r\n boss@example.org\r\nsubject: folded\r\n  subject line\r\n\r\n",
        "Subject: =?utf-8?B?w6lsw6h2ZQ==?=\r\nFrom: =?iso-8859-1?Q?J=F6rg?= <j@example.de>\r\nReply-To: list@example.org\r\nSender: bot@example.org\r\n\r\n",
        "From: Group: a@b.c, d@e.f;\r\nTo: undisclosed-recipients:;\r\nBcc: hidden@example.org\r\n\r\n",
        "From: \"Ünïcödé Nämé\" <u@exämple.org>\r\nSubject: 8-bit sübject\r\n\r\n",
        "In-Reply-To: <a@b>\r\nMessage-Id: <c@d>\r\nSubject:\r\nDate:   \r\nFrom: <@route.example:user@example.org>\r\n\r\n",
        "Subject: first\r\nSubject: second\r\nFrom: one@example.org\r\nFrom: two@example.org\r\n\r\n",
        "From: lf@example.org\nSubject: bare LF\n line two\n\n",
        "From: not an address\r\nTo: \r\nCc: (comment only)\r\n\r\n",
        "\r\n",
        "Subject : space before the colon\r\nFrom: a@b.c\r\n\r\n",
        "not a field\r\nFrom: a@b.c\r\n\r\n",
        " leading continuation\r\nFrom: a@b.c\r\n\r\n",
        "From: no empty line at the end\r\n",
        "From: a@b.c\r\nSubject: tab\tinside\r\n\tand folded with a tab\r\n\r\n",
        "X-Long-Name-With-Odd-Chars!#$%: v\r\nFrom: a@b.c\r\n\r\n",
    ];

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Scanned_envelope_is_mimekits(string block)
    {
        var header = Encoding.UTF8.GetBytes(block);
        foreach (var utf8 in new[] { false, true })
        {
            string expected;
            try
            {
                expected = Structure.Envelope(HeaderBlock.Parse(header), utf8);
            }
            catch (FormatException)
            {
                // MimeKit refuses the block (a first line that is not a field): the scan hands it over, so it is refused the same way.
                Assert.Throws<FormatException>(() => Structure.Envelope(header, utf8));
                continue;
            }
            Assert.Equal(expected, Structure.Envelope(header, utf8));
        }
    }

    [Fact]
    public void Address_lists_are_formatted_for_the_clients_mode()
    {
        // The same octets give one text for a UTF-8 client and another for the rest (RFC 2047 phrase): the formatted
        // address lists are cached per mode, whichever comes first.
        var header = Encoding.UTF8.GetBytes("From: \"Zoë Ölund\" <zoe@example.org>\r\n\r\n");
        var utf8 = Structure.Envelope(header, utf8: true);
        var ascii = Structure.Envelope(header, utf8: false);
        Assert.Contains("Zoë Ölund", utf8, StringComparison.Ordinal);
        Assert.DoesNotContain("Zoë", ascii, StringComparison.Ordinal);
        Assert.Contains("=?utf-8?", ascii, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(utf8, Structure.Envelope(header, utf8: true));
        Assert.Equal(ascii, Structure.Envelope(header, utf8: false));
    }

    [Fact]
    public void Scan_declines_what_it_might_read_differently()
    {
        Assert.NotNull(EnvelopeFields.TryScan("From: a@b.c\r\n\r\n"u8.ToArray()));
        Assert.Null(EnvelopeFields.TryScan("Subject : x\r\n\r\n"u8.ToArray()));
        Assert.Null(EnvelopeFields.TryScan("From a@b.c Mon Jan  1 00:00:00 2025\r\nFrom: a@b.c\r\n\r\n"u8.ToArray()));
        Assert.Null(EnvelopeFields.TryScan("From: a@b.c\r\n"u8.ToArray()));
    }
}
