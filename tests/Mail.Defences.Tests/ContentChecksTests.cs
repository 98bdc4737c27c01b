using System.Text;
using Mail.Core.Model;
using Mail.Defences.ContentChecks;
using Mail.Defences.RegexpTables;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using MimeKit;

namespace Mail.Defences.Tests;

public class ContentChecksTests
{
    private static MimeMessage Parse(string raw) =>
        MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(raw.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal))));

    private static InboundContext Context(string raw) => new(new Envelope
    {
        QueueId = "Q1",
        MessageRef = "m1",
        ReceivedAt = DateTimeOffset.UnixEpoch,
        Client = new ClientInfo { Address = "192.0.2.1", Helo = "client.example" },
        MailFrom = "a@example.org",
        Recipients = [new Recipient { Address = "b@example.net" }],
    }, Parse(raw));

    private static async Task<InboundContext> Run(ContentChecksOptions o, string raw)
    {
        var c = Context(raw);
        await new ContentChecks.ContentChecks(o).RunAsync(c, CancellationToken.None);
        return c;
    }

    private const string Plain = """
        From: a@example.org
        To: b@example.net
        Subject: hello
        Message-ID: <1@example.org>

        just a line
        """;

    [Fact]
    public async Task Header_checks_see_the_unfolded_rfc2047_decoded_subject_and_reject_is_recorded()
    {
        // "Günstige Viagra Pillen" in base64 encoded-words, folded over two lines.
        var subject = "=?UTF-8?B?R8O8bnN0aWdl?=\n =?UTF-8?B?IFZpYWdyYSBQaWxsZW4=?=";
        var c = await Run(new() { HeaderChecks = RegexpTable.Parse("/^Subject: Günstige viagra pillen$/ REJECT 5.7.1 no thanks", "hc") },
            Plain.Replace("Subject: hello", "Subject: " + subject, StringComparison.Ordinal));
        Assert.Equal("5.7.1 no thanks", c.Results["content.reject"]);
        Assert.Equal(Disposition.Quarantine, c.Verdict.Disposition);
        Assert.Contains(c.Verdict.Contributions, x => x.Rule == "header_checks:hc:1");
    }

    [Fact]
    public async Task A_clean_inspection_recorded_under_the_same_configuration_is_not_repeated_under_another_it_is()
    {
        const string table = "/^Subject: hello/ JUNK";
        var checks = new ContentChecks.ContentChecks(new() { HeaderChecks = RegexpTable.Parse(table, "hc") });
        // The same tables and options give the same fingerprint; another table text, source or option another.
        Assert.Equal(checks.CleanResult, new ContentChecks.ContentChecks(new() { HeaderChecks = RegexpTable.Parse(table, "hc") }).CleanResult);
        Assert.NotEqual(checks.Fingerprint, new ContentChecks.ContentChecks(new() { HeaderChecks = RegexpTable.Parse(table + " ", "hc") }).Fingerprint);
        Assert.NotEqual(checks.Fingerprint, new ContentChecks.ContentChecks(new() { HeaderChecks = RegexpTable.Parse(table, "other") }).Fingerprint);
        Assert.NotEqual(checks.Fingerprint, new ContentChecks.ContentChecks(new() { HeaderChecks = RegexpTable.Parse(table, "hc"), Normalize = true }).Fingerprint);
        Assert.NotEqual(checks.Fingerprint, new ContentChecks.ContentChecks(new() { BodyChecks = RegexpTable.Parse(table, "hc") }).Fingerprint);

        InboundContext Recorded(string value) => new(Context(Plain).Envelope with
        {
            ConnectionResults = new Dictionary<string, string> { [EdgeContentInspection.ResultName] = value },
        }, Parse(Plain));
        // A record under this configuration is taken as it is (the edge never writes it for a message that matches:
        // written here for one that does, to show that the inspection is skipped).
        var trusted = Recorded(checks.CleanResult);
        await checks.RunAsync(trusted, CancellationToken.None);
        Assert.Equal(Disposition.Inbox, trusted.Verdict.Disposition);
        // Recorded under other tables (edited, then a restart with a backlog): inspected again.
        var stale = Recorded("none " + new ContentChecks.ContentChecks(new() { HeaderChecks = RegexpTable.Parse("/^Subject: other/ JUNK", "hc") }).Fingerprint);
        await checks.RunAsync(stale, CancellationToken.None);
        Assert.Equal(Disposition.Junk, stale.Verdict.Disposition);
        var none = Context(Plain);
        await checks.RunAsync(none, CancellationToken.None);
        Assert.Equal(Disposition.Junk, none.Verdict.Disposition);
    }

    [Fact]
    public async Task Nothing_matches_nothing_changes()
    {
        var c = await Run(new() { HeaderChecks = RegexpTable.Parse("/^Subject: viagra/ REJECT"), BodyChecks = RegexpTable.Parse("/viagra/ DISCARD") }, Plain);
        Assert.Equal(Disposition.Inbox, c.Verdict.Disposition);
        Assert.Empty(c.Verdict.Contributions);
        Assert.Empty(c.Results);
    }

    [Theory]
    [InlineData("DISCARD", Disposition.Discard)]
    [InlineData("HOLD suspicious", Disposition.Quarantine)]
    [InlineData("JUNK looks like spam", Disposition.Junk)]
    [InlineData("WARN just noting", Disposition.Inbox)]
    public async Task Actions_map_to_the_verdict(string action, Disposition expected)
    {
        var c = await Run(new() { HeaderChecks = RegexpTable.Parse($"/^Subject: hello/ {action}") }, Plain);
        Assert.Equal(expected, c.Verdict.Disposition);
        Assert.Single(c.Verdict.Contributions);
    }

    [Fact]
    public async Task Prepend_ignore_replace_redirect_and_filter()
    {
        var table = RegexpTable.Parse("""
            /^Subject: (.*)/ PREPEND X-Original-Subject: $1
            /^Message-ID:/ IGNORE
            /^To: (.*)/ REPLACE X-Was-To: $1
            /^From: / REDIRECT abuse@example.net
            """);
        var c = await Run(new() { HeaderChecks = table, BodyChecks = RegexpTable.Parse("/just a line/ FILTER smtp:[127.0.0.1]:10025") }, Plain);
        Assert.Equal(["X-Was-To: b@example.net", "X-Original-Subject: hello"], c.PrependHeaders.Select(h => $"{h.Field}: {h.Value}"));
        var msgId = c.Message.Headers.First(h => h.Field == "Message-ID");
        var to = c.Message.Headers.First(h => h.Field == "To");
        var subject = c.Message.Headers.First(h => h.Field == "Subject");
        Assert.Contains(c.RemoveHeaders, p => p(msgId));
        Assert.Contains(c.RemoveHeaders, p => p(to));
        Assert.DoesNotContain(c.RemoveHeaders, p => p(subject));
        Assert.Equal("abuse@example.net", c.Results["content.redirect"]);
        Assert.Equal("smtp:[127.0.0.1]:10025", c.Results["content.filter"]);
    }

    [Fact]
    public void Reject_and_discard_stop_the_inspection()
    {
        var checks = new ContentChecks.ContentChecks(new() { HeaderChecks = RegexpTable.Parse("/^From:/ DISCARD\n/^Subject:/ WARN"), BodyChecks = RegexpTable.Parse("/line/ WARN") });
        var hits = checks.Inspect(Parse(Plain));
        Assert.Single(hits);
        Assert.Equal(TableActionKind.Discard, hits[0].Match.Action.Kind);
    }

    [Fact]
    public void Body_checks_see_quoted_printable_and_base64_decoded_text_and_html_without_tags()
    {
        var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes("first line\r\nbuy cheap watches today\r\n"));
        var raw = $$"""
            From: a@example.org
            Subject: parts
            MIME-Version: 1.0
            Content-Type: multipart/alternative; boundary="b1"

            --b1
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            Cheap pi=
            lls here =E2=82=AC
            --b1
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: base64

            {{b64}}
            --b1
            Content-Type: text/html; charset=utf-8

            <html><head><style>.x {color:red} casino</style></head><body><p>Online c<b>as</b>ino &amp; more</p><script>var casino2=1</script></body></html>
            --b1--
            """;
        var table = RegexpTable.Parse("""
            /^Cheap pills here €$/ WARN qp
            /^buy cheap watches today$/ WARN b64
            /^Online casino & more$/ WARN html
            /color:red|casino2/ REJECT style or script text must not be seen
            """);
        var hits = new ContentChecks.ContentChecks(new() { BodyChecks = table }).Inspect(Parse(raw));
        Assert.Equal(["qp", "b64", "html"], hits.Select(h => h.Match.Action.Text));
        Assert.All(hits, h => Assert.Equal(ContentStage.Body, h.Stage));
    }

    // Parts read straight from their bytes (plain ASCII, no transfer encoding) and parts MimeKit decodes must give
    // body_checks the same lines as MimeKit's decoded text split at LF with its CRs trimmed: lone and doubled CRs, a
    // last line without CRLF, each charset, 8-bit bytes, UTF-7, base64, HTML, a part over the size limit.
    [Theory]
    [InlineData("", "7bit", "one\r\ntwo\r\n\r\n  three \r\n")]
    [InlineData("; charset=us-ascii", "", "a\rb\r\nc\r\r\n\r\r\nd\r")]
    [InlineData("; charset=\"UTF-8\"", "8bit", "tab\there\r\n\u0001ctl\r\nlast line without CRLF")]
    [InlineData("; charset=iso-8859-1", "binary", "plain ascii under latin1\r\n")]
    [InlineData("; charset=utf-8", "8bit", "caf\u00c3\u00a9 in UTF-8 bytes\r\nsecond\r\n")]
    [InlineData("", "8bit", "latin1 byte \u00e9 without charset\r\n")]
    [InlineData("; charset=utf-7", "7bit", "+AGEAYgBj- utf-7\r\n")]
    [InlineData("; charset=us-ascii", "base64", "b25lCnR3bw0KdGhyZWUNCg==\r\n")]
    [InlineData("; charset=us-ascii", "7bit", "a line over the size limit of sixty-four characters, cut by MimeKit's path\r\nnext\r\n")]
    public void Body_lines_read_from_the_bytes_are_the_lines_of_the_decoded_text(string charset, string transfer, string body)
    {
        foreach (var type in new[] { "text/plain", "text/html" })
        {
            var head = $"From: a@example.org\r\nSubject: lines\r\nMIME-Version: 1.0\r\nContent-Type: {type}{charset}\r\n"
                + (transfer.Length > 0 ? $"Content-Transfer-Encoding: {transfer}\r\n" : "") + "\r\n";
            var bytes = Encoding.Latin1.GetBytes(head + body);
            foreach (var persistent in new[] { false, true })
            {
                var message = MimeMessage.Load(new MemoryStream(bytes), persistent);
                var part = Assert.IsType<TextPart>(message.Body);
                var text = part.Text;
                if (part.IsHtml) text = HtmlText.ToText(text);
                if (text.Length > 64) text = text[..64];
                var expected = text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
                var checks = new ContentChecks.ContentChecks(new() { BodyChecks = RegexpTable.Parse("/^/ WARN line"), BodyChecksSizeLimit = 64 });
                Assert.Equal(expected, checks.Inspect(message).Select(h => h.Input));
            }
        }
    }

    [Fact]
    public void Mime_header_checks_see_part_headers_and_fall_back_to_header_checks()
    {
        var raw = """
            From: a@example.org
            Subject: invoice
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="b1"

            --b1
            Content-Type: text/plain

            see attached
            --b1
            Content-Type: application/octet-stream; name="invoice.exe"
            Content-Disposition: attachment; filename="invoice.exe"
            Content-Transfer-Encoding: base64

            TVqQAAMAAAAEAAAA
            --b1--
            """;
        var table = RegexpTable.Parse("/^Content-(Disposition|Type):.*name=\"?[^\"]*\\.(exe|scr)\"?/ REJECT 5.7.1 executable attachment $2");
        var withMime = new ContentChecks.ContentChecks(new() { MimeHeaderChecks = table }).Inspect(Parse(raw));
        Assert.Equal("5.7.1 executable attachment exe", Assert.Single(withMime).Match.Action.Text);
        Assert.Equal(ContentStage.MimeHeader, withMime[0].Stage);
        var fallback = new ContentChecks.ContentChecks(new() { HeaderChecks = table }).Inspect(Parse(raw));
        Assert.Single(fallback);
        // header_checks alone never sees part headers when mime_header_checks is configured separately.
        var separate = new ContentChecks.ContentChecks(new() { HeaderChecks = table, MimeHeaderChecks = RegexpTable.Parse("/^X-Nothing:/ WARN") }).Inspect(Parse(raw));
        Assert.Empty(separate);
    }

    // The obfuscation corpus: each of these must be caught by /viagra/ once normalization is on, and none by the plain rule.
    public static TheoryData<string> Obfuscated => new()
    {
        "Viagr^á",
        "VIAGRA".Replace('A', '\u0410'),             // Cyrillic capital A
        "vi\u0430gr\u0430",                           // Cyrillic small a
        "\u0392\u0399AGRA".Replace("\u0392", "V", StringComparison.Ordinal), // Greek capital Iota
        "V\u0399\u0391GR\u0391",                      // Greek Iota and Alpha
        "Vïâgrà",
        "Vi\u0301a\u0300gra\u0308",                   // combining accents
        "ＶＩＡＧＲＡ",                                 // fullwidth
        "\U0001D415\U0001D422\U0001D41A\U0001D420\U0001D42B\U0001D41A", // mathematical bold
        "Via\u200Bgra",                               // zero-width space
        "Vi\u00ADagra",                               // soft hyphen
        "v\u0456\u0430g\u0433\u0430",                 // Ukrainian i, Cyrillic a and ghe
        "Viag\u0433a`",
    };

    [Theory]
    [MemberData(nameof(Obfuscated))]
    public void Normalization_catches_obfuscated_spellings(string spelling)
    {
        var table = RegexpTable.Parse("/viagra/ JUNK");
        var raw = Plain.Replace("Subject: hello", $"Subject: =?UTF-8?B?{Convert.ToBase64String(Encoding.UTF8.GetBytes("Buy " + spelling + " now"))}?=", StringComparison.Ordinal)
                       .Replace("just a line", "body", StringComparison.Ordinal);
        Assert.Empty(new ContentChecks.ContentChecks(new() { HeaderChecks = table }).Inspect(Parse(raw)));
        var hit = Assert.Single(new ContentChecks.ContentChecks(new() { HeaderChecks = table, Normalize = true }).Inspect(Parse(raw)));
        Assert.True(hit.ViaNormalization);
    }

    [Theory]
    [InlineData("Niagara falls")]
    [InlineData("via grace")]
    [InlineData("Vi4gra")]
    public void Normalization_does_not_invent_matches(string text)
    {
        Assert.DoesNotMatch("viagra", TextNormalizer.Normalize(text));
    }

    [Fact]
    public void Normalizer_keeps_digits_and_punctuation()
    {
        Assert.Equal("price: 10 € (ok)", TextNormalizer.Normalize("PRICE: 10 € (OK)"));
        Assert.Equal("cafe", TextNormalizer.Normalize("Café"));
    }
    [Fact]
    public void A_rule_that_times_out_is_reported_as_a_warning_and_later_rules_still_match()
    {
        var table = RegexpTable.Parse("/^Subject: (a+)+$/ REJECT\n/^Subject:/ JUNK", "hc", TimeSpan.FromMilliseconds(50));
        var raw = Plain.Replace("Subject: hello", "Subject: " + new string('a', 40) + "!", StringComparison.Ordinal);
        var hits = new ContentChecks.ContentChecks(new() { HeaderChecks = table }).Inspect(Parse(raw));
        Assert.Equal([(TableActionKind.Warn, 1), (TableActionKind.Junk, 2)], hits.Select(h => (h.Match.Action.Kind, h.Match.Line)));
        Assert.Equal("regex match timed out", hits[0].Match.Action.Text);
    }
}
