using System.Buffers;
using System.Security.Cryptography;
using MimeKit.Cryptography;

namespace Mail.Auth.Dkim;

/// <summary>
/// The body hash of RFC 6376 3.7 step 1 over the body as stored: canonicalized (3.4.3 simple, 3.4.4 relaxed) in one
/// span scan straight into the hash, at most l= bytes of it. A line ends at LF, with or without CR before it (a bare
/// LF counts as CRLF, as in dkimpy and MimeKit); a lone CR is an ordinary byte. Empty lines at the end are dropped;
/// a last line without a line ending gets one; an empty body is CRLF under simple and nothing under relaxed.
/// </summary>
public static class DkimBodyHash
{
    private static readonly SearchValues<byte> Wsp = SearchValues.Create(" \t"u8);

    /// <param name="limit">l=, or null for the whole body.</param>
    /// <param name="canonicalLength">The length of the whole canonical body (beyond l= too): when it exceeds l=,
    /// the message has unsigned content after the signed part.</param>
    public static byte[] Compute(ReadOnlySpan<byte> body, HashAlgorithmName algorithm, DkimCanonicalizationAlgorithm canonicalization,
        long? limit, out long canonicalLength)
    {
        using var writer = new CanonicalHashWriter(algorithm, limit ?? long.MaxValue);
        Canonicalize(body, canonicalization == DkimCanonicalizationAlgorithm.Relaxed, writer);
        canonicalLength = writer.Length;
        return writer.GetHash();
    }

    internal static void Canonicalize(ReadOnlySpan<byte> body, bool relaxed, CanonicalHashWriter writer)
    {
        var emptyLines = 0;
        var written = false;
        while (!body.IsEmpty)
        {
            ReadOnlySpan<byte> line;
            var lf = body.IndexOf((byte)'\n');
            if (lf < 0)
            {
                line = body;
                body = default;
            }
            else
            {
                line = body[..lf];
                body = body[(lf + 1)..];
                if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
            }
            if (relaxed) line = line.TrimEnd(" \t"u8);
            if (line.IsEmpty)
            {
                // Held back: empty lines count only when something follows them.
                emptyLines++;
                continue;
            }
            for (; emptyLines > 0; emptyLines--) writer.Write("\r\n"u8);
            if (relaxed) WriteReduced(line, writer);
            else writer.Write(line);
            writer.Write("\r\n"u8);
            written = true;
        }
        if (!written && !relaxed) writer.Write("\r\n"u8);
    }

    // RFC 6376 3.4.4: every run of WSP inside a line becomes one SP (trailing WSP is already gone).
    private static void WriteReduced(ReadOnlySpan<byte> line, CanonicalHashWriter writer)
    {
        // Most lines are already canonical (single spaces, no TAB): two vectorized searches say so.
        if (line.IndexOf((byte)'\t') < 0 && line.IndexOf("  "u8) < 0)
        {
            writer.Write(line);
            return;
        }
        while (true)
        {
            var wsp = line.IndexOfAny(Wsp);
            if (wsp < 0)
            {
                writer.Write(line);
                return;
            }
            writer.Write(line[..wsp]);
            writer.Write((byte)' ');
            line = line[wsp..];
            var run = line.IndexOfAnyExcept(Wsp);
            line = line[run..]; // run >= 0: the line does not end in WSP
        }
    }
}
