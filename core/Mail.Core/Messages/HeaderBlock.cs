using System.Buffers;
using System.Text;
using MimeKit;

namespace Mail.Core.Messages;

/// <summary>
/// The header block of a stored message (RFC 5322 section 2.1: the fields up to the first empty line), read without the
/// body. Two uses, one reader: the IMAP gateway takes the octets as they are (ENVELOPE, BODY[HEADER], HEADER.FIELDS,
/// header SEARCH and SORT keys need no more), and the inbound stage takes them split into fields, each with its folded
/// continuation lines and line ending, byte for byte, to rewrite the header and then copy the body straight from the
/// store, unparsed, from <see cref="BodyOffset"/>.
/// </summary>
public sealed class HeaderBlock
{
    /// <summary>Header blocks larger than this are refused by <see cref="ReadAsync(Stream, CancellationToken)"/>: the
    /// edge limits line length and message size, so this only trips on something that is not a mail message.</summary>
    public const int MaxHeaderBytes = 4 * 1024 * 1024;

    private const int ReadSize = 64 * 1024;

    private HeaderBlock(List<byte[]> fields, long bodyOffset)
    {
        Fields = fields;
        BodyOffset = bodyOffset;
    }

    /// <summary>Raw fields in order, each ending with its line ending (a last line without one, at the end of a message
    /// with no body, is kept as it is).</summary>
    public IReadOnlyList<byte[]> Fields { get; }

    /// <summary>Offset of the empty line separating header from body, or the stream length when there is none.</summary>
    public long BodyOffset { get; }

    /// <summary>Reads the header block and splits it into fields; throws <see cref="InvalidDataException"/> past
    /// <see cref="MaxHeaderBytes"/>.</summary>
    public static async Task<HeaderBlock> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = await ReadAsync(stream, MaxHeaderBytes + 1, cancellationToken);
        var ended = EndsWithEmptyLine(header);
        if (!ended && header.Length > MaxHeaderBytes) throw new InvalidDataException($"Header block exceeds {MaxHeaderBytes} bytes");
        // Without an empty line the message ends inside the header block: it is all fields.
        var bodyOffset = ended ? header.Length - (header.Length >= 2 && header[^2] == '\r' && (header.Length == 2 || header[^3] == '\n') ? 2 : 1) : header.Length;
        var fields = new List<byte[]>();
        var span = header.AsSpan(0, bodyOffset);
        for (var i = 0; i < span.Length;)
        {
            var end = FieldEnd(span, i);
            fields.Add(span[i..end].ToArray());
            i = end;
        }
        return new HeaderBlock(fields, bodyOffset);
    }

    /// <summary>The octets up to and including the first empty line (CRLF CRLF or LF LF), at most <paramref name="max"/>
    /// of them; all of a message that has no empty line.</summary>
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

    /// <summary>What <see cref="FindEnd"/> stops at: the block is an empty line, or ends with one.</summary>
    private static bool EndsWithEmptyLine(ReadOnlySpan<byte> h) =>
        h is [(byte)'\n'] or [(byte)'\r', (byte)'\n'] || h.EndsWith("\n\n"u8) || h.EndsWith("\n\r\n"u8);

    /// <summary>End of the field starting at <paramref name="start"/>: it runs until a line that does not start with
    /// white space (RFC 5322 2.2.3 folding).</summary>
    private static int FieldEnd(ReadOnlySpan<byte> header, int start)
    {
        var i = start;
        do
        {
            var lf = header[i..].IndexOf((byte)'\n');
            i = lf < 0 ? header.Length : i + lf + 1;
        } while (i < header.Length && header[i] is (byte)' ' or (byte)'\t');
        return i;
    }

    /// <summary>
    /// The fields parsed by MimeKit (decoding, addresses). MimeKit refuses a block whose first line is not a field (an
    /// mbox "From " line, a line without a colon; one further down it keeps as a field of its own): such leading lines
    /// are left out, as Dovecot leaves them out, rather than failing the message. Nothing readable left: no fields.
    /// </summary>
    public static HeaderList Parse(byte[] header)
    {
        try
        {
            return Load(header, 0);
        }
        catch (FormatException)
        {
        }
        try
        {
            return Load(header, LeadingNonFields(header));
        }
        catch (FormatException)
        {
            return new HeaderList();
        }
    }

    private static HeaderList Load(byte[] header, int start)
    {
        using var ms = new MemoryStream(header, start, header.Length - start, writable: false);
        return HeaderList.Load(ms);
    }

    /// <summary>Length of the lines at the start of <paramref name="header"/> that are not header fields (nor the
    /// empty line that ends the block), with their continuation lines: 0 for a block that starts with a field.</summary>
    public static int LeadingNonFields(ReadOnlySpan<byte> header)
    {
        var i = 0;
        while (i < header.Length && !StartsField(header[i..]) && header[i] is not ((byte)'\r' or (byte)'\n'))
            i = FieldEnd(header, i);
        return i;
    }

    /// <summary>Whether <paramref name="line"/> starts a header field: a name of printable US-ASCII other than the
    /// colon, optional white space (RFC 5322 4.5.3 obs-optional), then the colon.</summary>
    public static bool StartsField(ReadOnlySpan<byte> line)
    {
        var i = 0;
        while (i < line.Length && line[i] is >= 33 and <= 126 and not (byte)':') i++;
        if (i == 0) return false;
        while (i < line.Length && line[i] is (byte)' ' or (byte)'\t') i++;
        return i < line.Length && line[i] == ':';
    }

    /// <summary>IMAP HEADER.FIELDS / HEADER.FIELDS.NOT: the matching fields as sent, then the empty line.</summary>
    public static byte[] Filter(ReadOnlySpan<byte> header, IReadOnlyCollection<string> names, bool not)
    {
        var set = new HashSet<string>(names, StringComparer.OrdinalIgnoreCase);
        var output = new MemoryStream();
        var i = 0;
        while (i < header.Length)
        {
            var start = i;
            i = FieldEnd(header, i);
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
