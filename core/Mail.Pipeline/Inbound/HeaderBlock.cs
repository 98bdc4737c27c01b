namespace Mail.Pipeline.Inbound;

/// <summary>
/// The raw header block of a stored message, split into fields (each with its folded continuation lines and
/// line ending, byte for byte), and the offset where the body part starts (the empty separator line).
/// Lets the delivered copy rewrite headers and then copy the body straight from the store, unparsed.
/// </summary>
public sealed class HeaderBlock
{
    /// <summary>Header blocks larger than this are refused: the edge limits line length and message size, so
    /// this only trips on something that is not a mail message.</summary>
    public const int MaxHeaderBytes = 4 * 1024 * 1024;

    private HeaderBlock(List<byte[]> fields, long bodyOffset)
    {
        Fields = fields;
        BodyOffset = bodyOffset;
    }

    /// <summary>Raw fields in order, each ending with its line ending.</summary>
    public IReadOnlyList<byte[]> Fields { get; }

    /// <summary>Offset of the empty line separating headers from the body, or the stream length when there is none.</summary>
    public long BodyOffset { get; }

    public static async Task<HeaderBlock> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var fields = new List<byte[]>();
        var current = new MemoryStream();
        var line = new MemoryStream();
        var buffer = new byte[16 * 1024];
        long offset = 0;
        long lineStart = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            for (var i = 0; i < n; i++)
            {
                var b = buffer[i];
                line.WriteByte(b);
                offset++;
                if (b != (byte)'\n') continue;
                var span = line.GetBuffer().AsSpan(0, (int)line.Length);
                if (span.Length == 1 || (span.Length == 2 && span[0] == (byte)'\r'))
                {
                    Flush(current, fields);
                    return new HeaderBlock(fields, lineStart);
                }
                if (span[0] is not ((byte)' ' or (byte)'\t')) Flush(current, fields);
                current.Write(span);
                line.SetLength(0);
                lineStart = offset;
                if (offset > MaxHeaderBytes) throw new InvalidDataException($"Header block exceeds {MaxHeaderBytes} bytes");
            }
        }
        // No body: the message ends inside the header block (a last line without line ending is kept as is).
        if (line.Length > 0)
        {
            var last = line.GetBuffer().AsSpan(0, (int)line.Length);
            if (last[0] is not ((byte)' ' or (byte)'\t')) Flush(current, fields);
            current.Write(last);
        }
        Flush(current, fields);
        return new HeaderBlock(fields, offset);
    }

    private static void Flush(MemoryStream current, List<byte[]> fields)
    {
        if (current.Length == 0) return;
        fields.Add(current.ToArray());
        current.SetLength(0);
    }
}
