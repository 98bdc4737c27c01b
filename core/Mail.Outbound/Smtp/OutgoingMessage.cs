using Mail.Core.Messages;
using Mail.Core.Ports;

namespace Mail.Outbound.Smtp;

/// <summary>
/// A message as it goes out: the header fields we add in front (DKIM-Signature), then the stored original exactly as
/// it came in, so signatures already in it (the sender's DKIM, ARC) still verify. The header section is read once
/// and split into fields without a MIME parse (<see cref="RawMessage"/>, the checks' splitter): the hop count reads
/// its Received fields and the signer (<see cref="IOutboundSigner"/>) the rest; the body is never parsed, only read
/// from the store when it is hashed and when it is sent. A blank line ending in a bare LF goes out as CRLF; the edge
/// stores CRLF only.
/// </summary>
internal sealed class OutgoingMessage
{
    private readonly Stream _original;
    private readonly int _fieldsEnd;
    private readonly byte[] _separator;
    private readonly long _bodyStart;
    private readonly bool _needsNewLine;
    private byte[] _prepended = [];

    private OutgoingMessage(RawMessage header, Stream original, byte[] separator, bool needsNewLine, bool eightBit)
    {
        (Header, _original, _separator, _needsNewLine, HasEightBitOctets) = (header, original, separator, needsNewLine, eightBit);
        _fieldsEnd = header.Count == 0 ? 0 : header[header.Count - 1].End;
        _bodyStart = header.Bytes.Length;
        BodyLength = original.Length - _bodyStart + (needsNewLine ? 2 : 0);
    }

    /// <summary>The stored header section, split into fields (the empty line after them included in its bytes).</summary>
    public RawMessage Header { get; }

    /// <summary>Octets of the body as written (the stored body, and a CRLF when its last line has none).</summary>
    public long BodyLength { get; }

    /// <summary>The body has octets above 127 (RFC 6152: it needs BODY=8BITMIME).</summary>
    public bool HasEightBitOctets { get; }

    /// <summary>Octets on the wire before dot-stuffing (what SIZE= and BDAT announce).</summary>
    public long Size => _prepended.Length + _fieldsEnd + _separator.Length + BodyLength;

    /// <param name="original">Seekable stored message; read from its start each time the message is written.</param>
    public static async Task<OutgoingMessage> ReadAsync(Stream original, CancellationToken cancellationToken)
    {
        original.Position = 0;
        var header = RawMessage.Parse(await HeaderBlock.ReadAsync(original, HeaderBlock.MaxHeaderBytes, cancellationToken));
        var bytes = header.Bytes.Span;
        var fieldsEnd = header.Count == 0 ? 0 : header[header.Count - 1].End;
        byte[] separator;
        if (fieldsEnd < bytes.Length) separator = "\r\n"u8.ToArray(); // the empty line
        else if (original.Length > bytes.Length) separator = []; // no empty line within MaxHeaderBytes: the rest as it is
        else separator = fieldsEnd > 0 && bytes[^1] != '\n' ? "\r\n\r\n"u8.ToArray() : "\r\n"u8.ToArray(); // all header
        var needsNewLine = original.Length > bytes.Length && !EndsWithNewLine(original);
        return new OutgoingMessage(header, original, separator, needsNewLine, ContainsEightBit(original, bytes.Length));
    }

    /// <summary>The same message (no second read of the header) over another view of the same bytes: attempts to
    /// several domains run at once and each reads the body at its own position.</summary>
    public OutgoingMessage WithBody(Stream copy) =>
        new(Header, copy, _separator, _needsNewLine, HasEightBitOctets) { _prepended = _prepended };

    /// <summary>Signs the message and puts the signer's fields (our DKIM-Signatures) on top.</summary>
    public async ValueTask SignAsync(IOutboundSigner signer, CancellationToken cancellationToken) =>
        _prepended = System.Text.Encoding.UTF8.GetBytes(await signer.SignAsync(Header, WriteBody, cancellationToken)).Concat(_prepended).ToArray();

    /// <summary>
    /// The message's octets as they go on the wire (before dot-stuffing): the fields put on top, the stored fields as
    /// they are, the empty line, the stored body.
    /// </summary>
    public void WriteOctets(Stream stream)
    {
        stream.Write(_prepended);
        stream.Write(Header.Bytes.Span[.._fieldsEnd]);
        stream.Write(_separator);
        WriteBody(stream);
    }

    /// <summary>The stored body bytes, as they are (a last line without its line break gets one: DATA ends with
    /// CRLF "." CRLF, and the body hash canonicalizes it so anyway).</summary>
    private void WriteBody(Stream stream)
    {
        _original.Position = _bodyStart;
        _original.CopyTo(stream, 64 * 1024);
        if (_needsNewLine) stream.Write("\r\n"u8);
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
