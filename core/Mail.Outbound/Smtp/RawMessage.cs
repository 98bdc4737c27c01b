using Mail.Core.Ports;
using MimeKit;

namespace Mail.Outbound.Smtp;

/// <summary>
/// A message sent as stored bytes: the header fields we add in front (DKIM-Signature), then the original exactly as
/// it came in, so signatures already in it (the sender's DKIM, ARC) still verify. MailKit's SmtpClient writes a
/// <see cref="MimeMessage"/>, whose own writing is not overridable: it writes the message's header fields (each as its
/// raw bytes when parsed, which these are), a blank line, then the body entity's content. So the header block is
/// parsed into a header list of raw fields and the body is a <see cref="RawBody"/> entity that writes the stored
/// body bytes. Header lines ending in a bare LF would be written with CRLF; the edge stores CRLF only.
/// This is the outbound stage's one parse of a message per attempt: the hop count reads its Received fields, the
/// signer (<see cref="Mail.Core.Ports.IOutboundSigner"/>) signs it, and MailKit sends it.
/// </summary>
internal sealed class RawMessage : MimeMessage
{
    private readonly long _bodyStart;
    private readonly RawBody _body;

    private RawMessage(IEnumerable<Header> headers, Stream original, long bodyStart, long headerBytes) : base(Placeholders())
    {
        _bodyStart = bodyStart;
        Headers.Clear();
        var body = _body = new RawBody(original, bodyStart);
        // Every field, Content-* too, stays in the message's list in its stored order. MimeKit's parser would keep the
        // Content-* fields with the body entity, and MimeMessage then writes the two lists merged by parse offset: the
        // fields we put in front (parsed apart, offsets from 0) could land after a Content-* field. So the body entity
        // has fields only for a moment: copies of the Content-* fields while the signer reads them (SignAsync).
        foreach (var h in headers) Headers.Add(h);
        Body = body;
        Size = headerBytes + body.Length;
    }

    /// <summary>MimeMessage's parameterless constructor fills in a From, Date, Subject and a freshly generated Message-ID
    /// (host name lookup, random bytes, date formatting) that this class clears at once: about 1.4% of the server's
    /// CPU per relayed message (bench/README.md, "Ed25519 through libsodium"). Given empty fields of those names, the
    /// constructor generates nothing; they are cleared with the rest. Fresh ones each time: a header list subscribes
    /// to its fields' change events.</summary>
    private static object[] Placeholders() =>
        [new Header(HeaderId.From, ""), new Header(HeaderId.Date, ""), new Header(HeaderId.Subject, ""), new Header(HeaderId.MessageId, "")];

    /// <summary>Octets on the wire before dot-stuffing (what SIZE= and BDAT announce).</summary>
    public long Size { get; private set; }

    /// <param name="original">Seekable stored message; read from its start each time the message is written.</param>
    public static RawMessage Parse(Stream original)
    {
        var (headerEnd, bodyStart) = FindBody(original);
        var headerBytes = new byte[headerEnd + 2];
        original.Position = 0;
        original.ReadExactly(headerBytes, 0, (int)headerEnd);
        headerBytes[^2] = (byte)'\r';
        headerBytes[^1] = (byte)'\n';
        var headers = HeaderList.Load(ParserOptions.Default, new MemoryStream(headerBytes));
        return new RawMessage(headers, original, bodyStart, headerBytes.Length);
    }

    /// <summary>
    /// The message's octets as they go on the wire (before dot-stuffing): each header field as its raw bytes (the
    /// parsed stored ones and those the signer put on top), the blank line, the stored body. MimeKit's
    /// <see cref="MimeMessage.WriteTo(FormatOptions, Stream, CancellationToken)"/> writes the same octets for these
    /// fields, through a format pass the raw bytes do not need.
    /// </summary>
    public void WriteOctets(Stream stream)
    {
        foreach (var h in Headers)
        {
            stream.Write(h.RawField);
            stream.WriteByte((byte)':');
            stream.Write(h.RawValue);
        }
        stream.Write("\r\n"u8);
        _body.WriteTo(FormatOptions.Default, stream, contentOnly: true);
    }

    /// <summary>How many header fields of this kind the stored message has (Received: the hop count).</summary>
    public int Count(HeaderId id) => Headers.Count(h => h.Id == id);

    /// <summary>Signs the message and puts the signer's fields (our DKIM-Signatures) on top.</summary>
    public async ValueTask SignAsync(IOutboundSigner signer, CancellationToken cancellationToken)
    {
        // The signer reads the Content-* fields from the body entity, where MimeKit's parser keeps them: the body
        // holds copies of them for the signature only.
        foreach (var h in Headers)
        {
            if (h.Field.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)) _body.Headers.Add(h.Clone());
        }
        try
        {
            Prepend(await signer.SignAsync(this, cancellationToken));
        }
        finally
        {
            _body.Headers.Clear();
        }
    }

    /// <summary>Puts <paramref name="fields"/> (complete header fields, CRLF-terminated) on top.</summary>
    private void Prepend(string fields)
    {
        if (fields.Length == 0) return;
        var bytes = System.Text.Encoding.UTF8.GetBytes(fields + "\r\n");
        var added = HeaderList.Load(ParserOptions.Default, new MemoryStream(bytes));
        for (var i = added.Count - 1; i >= 0; i--) Headers.Insert(0, added[i]);
        Size += bytes.Length - 2;
    }

    /// <summary>The same header fields (no parse) over another view of the same bytes: attempts to several domains
    /// run at once and each reads the body at its own position.</summary>
    public RawMessage WithBody(Stream copy) =>
        new(Headers, copy, _bodyStart, Size - _body.Length);

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

    /// <summary>Synchronous: the DKIM signer hashes the body as this writes it (DkimBodyHash.Compute).</summary>
    public override void WriteTo(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default)
    {
        _original.Position = _start;
        _original.CopyTo(stream, 64 * 1024);
        if (_needsNewLine) stream.Write("\r\n"u8);
    }

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
        // Pooled: one scan per outbound run, and a fresh 64 KB buffer each time was a large share of its allocations.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int n;
            while ((n = s.Read(buffer)) > 0)
            {
                if (buffer.AsSpan(0, n).IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0) return true;
            }
            return false;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool EndsWithNewLine(Stream s)
    {
        s.Position = s.Length - 1;
        return s.ReadByte() == '\n';
    }
}
