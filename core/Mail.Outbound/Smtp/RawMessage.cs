using MimeKit;

namespace Mail.Outbound.Smtp;

/// <summary>
/// A message sent as stored bytes: the header fields we add in front (DKIM-Signature), then the original exactly as
/// it came in, so signatures already in it (the sender's DKIM, ARC) still verify. MailKit's SmtpClient writes a
/// <see cref="MimeMessage"/>, whose own writing is not overridable: it writes the message's header fields (each as its
/// raw bytes when parsed, which these are), a blank line, then the body entity's content. So the header block is
/// parsed into a header list of raw fields and the body is a <see cref="RawBody"/> entity that writes the stored
/// body bytes. Header lines ending in a bare LF would be written with CRLF; the edge stores CRLF only.
/// </summary>
internal sealed class RawMessage : MimeMessage
{
    private RawMessage()
    {
    }

    /// <summary>Octets on the wire before dot-stuffing (what SIZE= and BDAT announce).</summary>
    public long Size { get; private set; }

    /// <param name="original">Seekable stored message; read from its start each time the message is written.</param>
    public static RawMessage Create(byte[] prefix, Stream original)
    {
        var (headerEnd, bodyStart) = FindBody(original);
        var headerBytes = new byte[prefix.Length + headerEnd + 2];
        prefix.CopyTo(headerBytes, 0);
        original.Position = 0;
        original.ReadExactly(headerBytes, prefix.Length, (int)headerEnd);
        headerBytes[^2] = (byte)'\r';
        headerBytes[^1] = (byte)'\n';
        var headers = HeaderList.Load(ParserOptions.Default, new MemoryStream(headerBytes));
        var message = new RawMessage();
        message.Headers.Clear();
        foreach (var h in headers) message.Headers.Add(h);
        var body = new RawBody(original, bodyStart);
        message.Body = body;
        message.Size = prefix.Length + headerEnd + 2 + body.Length;
        return message;
    }

    /// <summary>Where the header block ends (just after the last field's line break) and the body starts (after the blank line).</summary>
    private static (long HeaderEnd, long BodyStart) FindBody(Stream s)
    {
        s.Position = 0;
        var buffer = new byte[8192];
        long offset = 0;
        int prev1 = '\n', prev2 = -1; // as if preceded by a line break, so an empty header block is found
        int n;
        while ((n = s.Read(buffer)) > 0)
        {
            for (var i = 0; i < n; i++)
            {
                var b = buffer[i];
                var at = offset + i;
                if (b == '\n' && prev1 == '\r' && prev2 == '\n') return (at - 1, at + 1);
                if (b == '\n' && prev1 == '\n') return (at, at + 1);
                (prev2, prev1) = (prev1, b);
            }
            offset += n;
        }
        return (s.Length, s.Length);
    }
}

/// <summary>The stored body bytes, written as they are (no re-encoding, no header fields of its own).</summary>
internal sealed class RawBody : MimePart
{
    private readonly Stream _original;
    private readonly long _start;
    private readonly bool _needsNewLine;

    public RawBody(Stream original, long start)
    {
        (_original, _start) = (original, start);
        // The message's header fields are the original's; this entity must add none of its own.
        Headers.Clear();
        _needsNewLine = original.Length > start && !EndsWithNewLine(original);
        Length = original.Length - start + (_needsNewLine ? 2 : 0);
        HasEightBitOctets = ContainsEightBit(original, start);
    }

    public long Length { get; }

    /// <summary>The body has octets above 127 (RFC 6152: it needs BODY=8BITMIME).</summary>
    public bool HasEightBitOctets { get; }

    /// <summary>Says "8bit" to MailKit's choice of the BODY parameter. Only a header field of this entity, which the
    /// message would write: <see cref="Undeclare"/> must run before the message is written.</summary>
    public void DeclareEightBit()
    {
        if (HasEightBitOctets) ContentTransferEncoding = ContentEncoding.EightBit;
    }

    public void Undeclare() => Headers.Remove(HeaderId.ContentTransferEncoding);

    public override void WriteTo(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default) =>
        WriteToAsync(options, stream, contentOnly, cancellationToken).GetAwaiter().GetResult();

    public override async Task WriteToAsync(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default)
    {
        _original.Position = _start;
        await _original.CopyToAsync(stream, 64 * 1024, cancellationToken);
        // DATA ends with CRLF "." CRLF: a last line without its line break must not be joined to the dot.
        if (_needsNewLine) await stream.WriteAsync("\r\n"u8.ToArray(), cancellationToken);
    }

    private static bool ContainsEightBit(Stream s, long start)
    {
        s.Position = start;
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = s.Read(buffer)) > 0)
        {
            if (buffer.AsSpan(0, n).IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0) return true;
        }
        return false;
    }

    private static bool EndsWithNewLine(Stream s)
    {
        s.Position = s.Length - 1;
        return s.ReadByte() == '\n';
    }
}
