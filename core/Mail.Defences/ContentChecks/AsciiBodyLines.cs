using System.Buffers;
using System.Text;
using MimeKit;

namespace Mail.Defences.ContentChecks;

/// <summary>
/// The non-empty lines body_checks sees in a text part, read straight from its stored bytes when decoding cannot change
/// them: no transfer encoding to undo (7bit, 8bit, binary or none), only ASCII bytes under an ASCII-compatible charset
/// (or none), not HTML (whose text comes from its markup and may name its own charset), and no more bytes than the size
/// limit (so nothing is cut). Each line is then exactly what <see cref="TextPart.Text"/> split at LF with its CRs
/// trimmed gives, without MimeKit's charset and newline filters; any other part returns null and is decoded by MimeKit.
/// </summary>
internal static class AsciiBodyLines
{
    /// <summary>Charsets that map every ASCII byte to the same character (MimeKit's fallback for none is UTF-8).</summary>
    private static readonly HashSet<string> AsciiCompatible = new(StringComparer.OrdinalIgnoreCase)
    {
        "us-ascii", "ascii", "utf-8", "utf8", "iso-8859-1", "latin1", "windows-1252",
    };

    public static List<string>? TryRead(TextPart part, int sizeLimit)
    {
        if (part.Content is not { } content || part.IsHtml) return null;
        if (content.Encoding is not (ContentEncoding.Default or ContentEncoding.SevenBit or ContentEncoding.EightBit or ContentEncoding.Binary)) return null;
        if (part.ContentType.Charset is { } charset && !AsciiCompatible.Contains(charset.Trim())) return null;
        if (content.Stream is not { CanSeek: true } stream || stream.Length > sizeLimit) return null;

        var length = (int)stream.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(length + 1);
        try
        {
            using (var raw = content.Open())
                if (raw.ReadAtLeast(buffer.AsSpan(0, length + 1), length + 1, throwOnEndOfStream: false) != length) return null; // not the length it gave
            var bytes = buffer.AsSpan(0, length);
            if (!Ascii.IsValid(bytes)) return null;

            var lines = new List<string>();
            while (!bytes.IsEmpty)
            {
                var end = bytes.IndexOf((byte)'\n');
                var line = end < 0 ? bytes : bytes[..end];
                bytes = end < 0 ? [] : bytes[(end + 1)..];
                line = line.TrimEnd((byte)'\r');
                if (!line.IsEmpty) lines.Add(Encoding.ASCII.GetString(line));
            }
            return lines;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
