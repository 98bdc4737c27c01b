using System.Security.Cryptography;
using System.Text;
using Mail.Auth.Dkim;
using Mail.Core.Messages;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Tests;

/// <summary>
/// The body canonicalizer (DkimBodyHash, a span scan over the stored bytes) against two independent ones on the
/// same message: dkimpy's (its rfc822_parse and canonicalize_body, through Tools/dkimtool.py) and MimeKit's
/// (its body filters, through DkimVerifierBase.VerifyBodyHash over the parsed message).
/// </summary>
public sealed class DkimBodyHashTests
{
    private const string Head = "From: a@example.com\r\nSubject: edge\r\n";

    public static TheoryData<string, string> Bodies => new()
    {
        { "empty body", Head + "\r\n" },
        { "no body separator", Head.TrimEnd('\r', '\n') },
        { "only empty lines", Head + "\r\n\r\n\r\n\r\n" },
        { "plain", Head + "\r\nHi there.\r\nSee you.\r\n" },
        { "no final line break", Head + "\r\nHi there.\r\nSee you." },
        { "trailing WSP and empty lines", Head + "\r\nHi \t there.  \r\n \t\r\n\r\nSee\tyou. \t\r\n\r\n \r\n\t\r\n" },
        { "bare LF line endings", "From: a@example.com\nSubject: edge\n\nHi there. \nSee  you.\n\n\n" },
        { "mixed CRLF and LF", Head + "\r\nOne\nTwo\r\n\nThree \n" },
        { "lone CR inside a line", Head + "\r\nHalf\rline \r\nCR before CRLF \r\r\nend\r\n" },
        { "8-bit text", Head + "\r\nGrüße aus Köln —  schön \r\n\r\n" },
        { "leading empty lines", Head + "\r\n\r\n\r\nBody after two empty lines\r\n" },
        { "long line", Head + "\r\n" + new string('x', 9000) + "  " + new string('y', 9000) + " \r\n" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task Matches_dkimpy(string name, string message)
    {
        foreach (var canonicalization in new[] { "simple", "relaxed" })
        {
            var (expected, expectedLength) = await Dkimpy.BodyHashAsync(message, canonicalization);
            var (hash, length) = Ours(message, canonicalization, null);
            Assert.True(expected == hash, $"{name}, {canonicalization}: dkimpy {expected}, ours {hash}");
            Assert.Equal(expectedLength, length);
        }
    }

    [Theory]
    [MemberData(nameof(Bodies))]
    public void Matches_MimeKit(string name, string message)
    {
        // MimeKit's relaxed filter treats a CR that does not end a line unlike dkimpy and RFC 6376 3.4.4 (CR is not
        // WSP): there we follow dkimpy (Matches_dkimpy covers the case).
        if (name == "lone CR inside a line") return;
        foreach (var canonicalization in new[] { DkimCanonicalizationAlgorithm.Simple, DkimCanonicalizationAlgorithm.Relaxed })
        {
            var (hash, _) = Ours(message, canonicalization == DkimCanonicalizationAlgorithm.Simple ? "simple" : "relaxed", null);
            Assert.True(MimeKitAgrees(message, canonicalization, -1, hash), $"{name}, {canonicalization}: MimeKit hashes otherwise");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(17)]
    [InlineData(1000)]
    public async Task Body_length_limit_matches_dkimpy_and_MimeKit(long limit)
    {
        var message = Head + "\r\nFirst  line \r\nsecond line\r\n\r\ntail\r\n\r\n";
        foreach (var canonicalization in new[] { "simple", "relaxed" })
        {
            var (expected, expectedLength) = await Dkimpy.BodyHashAsync(message, canonicalization, limit);
            var (hash, length) = Ours(message, canonicalization, limit);
            Assert.Equal(expected, hash);
            Assert.Equal(expectedLength, length); // the whole canonical length, beyond l= too
            var mimeKit = canonicalization == "simple" ? DkimCanonicalizationAlgorithm.Simple : DkimCanonicalizationAlgorithm.Relaxed;
            Assert.True(MimeKitAgrees(message, mimeKit, (int)limit, hash), $"{canonicalization}, l={limit}: MimeKit hashes otherwise");
        }
    }

    // The one edge where dkimpy and MimeKit disagree on relaxed: a last line of only WSP without a line break.
    // MimeKit and OpenDKIM drop the WSP and then the empty line; dkimpy keeps it as " \r\n" (it strips WSP only
    // before a CRLF). We follow MimeKit, which verified these messages before.
    [Fact]
    public async Task Whitespace_only_last_line_without_break_is_dropped_under_relaxed()
    {
        var message = Head + "\r\nHi.\r\n   ";
        var (hash, length) = Ours(message, "relaxed", null);
        Assert.Equal(Convert.ToBase64String(SHA256.HashData("Hi.\r\n"u8)), hash);
        Assert.Equal(5, length);
        Assert.True(MimeKitAgrees(message, DkimCanonicalizationAlgorithm.Relaxed, -1, hash));
        var (dkimpy, _) = await Dkimpy.BodyHashAsync(message, "relaxed");
        Assert.Equal(Convert.ToBase64String(SHA256.HashData("Hi.\r\n \r\n"u8)), dkimpy);
        // simple keeps the line as it is, and there all three agree
        Assert.Equal((await Dkimpy.BodyHashAsync(message, "simple")).Hash, Ours(message, "simple", null).Hash);
    }

    [Fact]
    public void Header_scan_keeps_folding_and_finds_the_body()
    {
        var text = "Received: from a\r\n\tby b;\r\n  Sat, 28 Nov 2026\r\nSubject : x\nno colon here\r\nTo: c@example.net\r\n\r\nbody\r\n";
        var message = RawMessage.Parse(Encoding.ASCII.GetBytes(text));

        Assert.Equal(4, message.Count);
        Assert.Equal(" from a\r\n\tby b;\r\n  Sat, 28 Nov 2026\r\n", Encoding.ASCII.GetString(message.RawValue(message[0])));
        Assert.Equal("from a\tby b;  Sat, 28 Nov 2026", message.Value(message[0]));
        Assert.Equal("Subject ", Encoding.ASCII.GetString(message.RawName(message[1])));
        Assert.True(message.Is(message[1], "subject"));
        Assert.Equal(-1, message[2].Colon);
        Assert.Equal(3, message.IndexOf("TO"));
        Assert.Equal("body\r\n", Encoding.ASCII.GetString(message.Body));
    }

    [Fact]
    public void Header_scan_of_a_message_without_body()
    {
        var message = RawMessage.Parse(Encoding.ASCII.GetBytes("From: a@example.com\r\nSubject: last"));
        Assert.Equal(2, message.Count);
        Assert.Equal("last", message.Value(message[1]));
        Assert.True(message.Body.IsEmpty);
    }

    /// <summary>The written form (the outbound signer's, fed by the body's WriteTo) gives the span scan's hash however
    /// the writes cut the lines: one byte at a time, a CR and its LF in different writes, one write for all.</summary>
    [Theory]
    [MemberData(nameof(Bodies))]
    public void Written_in_pieces_matches_the_span_scan(string name, string message)
    {
        var body = RawMessage.Parse(Encoding.UTF8.GetBytes(message)).Body.ToArray();
        foreach (var canonicalization in new[] { DkimCanonicalizationAlgorithm.Simple, DkimCanonicalizationAlgorithm.Relaxed })
        {
            var expected = Convert.ToBase64String(DkimBodyHash.Compute(body, HashAlgorithmName.SHA256, canonicalization, null, out _));
            foreach (var piece in new[] { 1, 2, 3, 7, 64, int.MaxValue })
            {
                var hash = DkimBodyHash.Compute(stream =>
                {
                    for (var at = 0; at < body.Length; at += piece) stream.Write(body, at, Math.Min(piece, body.Length - at));
                }, HashAlgorithmName.SHA256, canonicalization);
                Assert.True(expected == Convert.ToBase64String(hash), $"{name}, {canonicalization}, pieces of {piece}");
            }
        }
    }

    private static (string Hash, long Length) Ours(string message, string canonicalization, long? limit)
    {
        var raw = RawMessage.Parse(Encoding.UTF8.GetBytes(message));
        var hash = DkimBodyHash.Compute(raw.Body, HashAlgorithmName.SHA256,
            canonicalization == "simple" ? DkimCanonicalizationAlgorithm.Simple : DkimCanonicalizationAlgorithm.Relaxed, limit, out var length);
        return (Convert.ToBase64String(hash), length);
    }

    private static bool MimeKitAgrees(string message, DkimCanonicalizationAlgorithm canonicalization, int maxLength, string hash)
    {
        var parsed = Messages.Parse(message);
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        return MimeKitBodyHash.Matches(format, parsed, canonicalization, maxLength, hash);
    }

    /// <summary>Opens MimeKit's protected body-hash check.</summary>
    private sealed class MimeKitBodyHash() : DkimVerifierBase(null!)
    {
        public static bool Matches(FormatOptions format, MimeMessage message, DkimCanonicalizationAlgorithm canonicalization, int maxLength, string hash) =>
            VerifyBodyHash(format, message, DkimSignatureAlgorithm.RsaSha256, canonicalization, maxLength, hash);
    }
}
