using System.Buffers;
using System.Text;
using MimeKit;

namespace Mail.Imap.Messages;

/// <summary>
/// The header of a stored message read on its own: the octets up to and including the empty line, without
/// reading the body. ENVELOPE, BODY[HEADER] and header SEARCH keys need no more.
/// </summary>
internal static class HeaderBlock
{
    /// <summary>Reads up to the first empty line (CRLF CRLF or LF LF), at most <paramref name="max"/> octets.</summary>
    public static async Task<byte[]> ReadAsync(Stream stream, int max, CancellationToken ct)
    {
        // A pooled 64 KiB buffer: most headers arrive in the first read, and a read at least as large as a
        // FileStream's own buffer (the file store uses 64 KiB) bypasses it, so no 64 KiB array is allocated
        // per message opened (10,000 of them in a mailbox sync).
        var buf = ArrayPool<byte>.Shared.Rent(Math.Min(max, ReadSize));
        try
        {
            var len = 0;
            var scanned = 0;
            while (len < max)
            {
                if (len == buf.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(max, buf.Length * 2));
                    buf.AsSpan(0, len).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buf);
                    buf = bigger;
                }
                var n = await stream.ReadAsync(buf.AsMemory(len, Math.Min(buf.Length, max) - len), ct);
                if (n == 0) break;
                len += n;
                var end = FindEnd(buf.AsSpan(0, len), ref scanned);
                if (end >= 0) return buf[..end];
            }
            return buf[..len];
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private const int ReadSize = 64 * 1024;

    /// <summary>Offset just past the empty line ending the header, or -1. A message that starts with an empty line has an empty header.</summary>
    private static int FindEnd(ReadOnlySpan<byte> b, ref int scanned)
    {
        if (scanned == 0)
        {
            if (b.Length >= 1 && b[0] == '\n') return 1;
            if (b.Length >= 2 && b[0] == '\r' && b[1] == '\n') return 2;
        }
        for (var j = scanned; j < b.Length; j++)
        {
            if (b[j] != '\n') continue;
            if (j + 1 >= b.Length || (b[j + 1] == '\r' && j + 2 >= b.Length)) { scanned = j; return -1; }
            if (b[j + 1] == '\n') return j + 2;
            if (b[j + 1] == '\r' && b[j + 2] == '\n') return j + 3;
        }
        scanned = Math.Max(b.Length - 1, 0);
        return -1;
    }

    public static HeaderList Parse(byte[] header)
    {
        using var ms = new MemoryStream(header, writable: false);
        return HeaderList.Load(ms);
    }

    /// <summary>HEADER.FIELDS / HEADER.FIELDS.NOT: the matching fields as sent, then the empty line.</summary>
    public static byte[] Filter(ReadOnlySpan<byte> header, IReadOnlyCollection<string> names, bool not)
    {
        var set = new HashSet<string>(names, StringComparer.OrdinalIgnoreCase);
        var output = new MemoryStream();
        var i = 0;
        while (i < header.Length)
        {
            // A field runs until a line that does not start with white space.
            var start = i;
            do
            {
                var lf = header[i..].IndexOf((byte)'\n');
                i = lf < 0 ? header.Length : i + lf + 1;
            } while (i < header.Length && header[i] is (byte)' ' or (byte)'\t');
            var field = header[start..i];
            if (field.Length == 0 || field[0] is (byte)'\r' or (byte)'\n') break; // the empty line
            var colon = field.IndexOf((byte)':');
            if (colon <= 0) continue;
            var name = Encoding.ASCII.GetString(field[..colon]).TrimEnd();
            if (set.Contains(name) != not) output.Write(field);
        }
        output.Write("\r\n"u8);
        return output.ToArray();
    }
}
