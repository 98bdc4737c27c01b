using MimeKit;

namespace Mail.Imap.Messages;

/// <summary>The header fields an ENVELOPE shows (RFC 9051 7.5.2), in its order.</summary>
internal enum EnvelopeField
{
    Date,
    Subject,
    From,
    Sender,
    ReplyTo,
    To,
    Cc,
    Bcc,
    InReplyTo,
    MessageId,
}

/// <summary>
/// Where each <see cref="EnvelopeField"/> is: the raw value (the octets after the colon, folding and line ending
/// included, as MimeKit's <see cref="Header.RawValue"/>) of the first field of that name. Read either from MimeKit's
/// header list, or by <see cref="TryScan"/> straight from a header block: a mailbox sync after a restart formats
/// thousands of ENVELOPEs, and building MimeKit's parser and header list for each was a third of that work.
/// </summary>
internal sealed class EnvelopeFields
{
    private const int Count = 10;

    private readonly byte[]?[] _sources = new byte[Count][];
    private readonly int[] _starts = new int[Count];
    private readonly int[] _lengths = new int[Count];

    public bool TryGet(EnvelopeField field, out byte[] source, out int start, out int length)
    {
        var i = (int)field;
        source = _sources[i]!;
        start = _starts[i];
        length = _lengths[i];
        return source is not null;
    }

    public static EnvelopeFields Of(HeaderList headers)
    {
        var f = new EnvelopeFields();
        for (var i = 0; i < Count; i++)
        {
            var at = headers.IndexOf(IdOf((EnvelopeField)i));
            if (at < 0) continue;
            var raw = headers[at].RawValue;
            f.Set((EnvelopeField)i, raw, 0, raw.Length);
        }
        return f;
    }

    /// <summary>
    /// One pass over a header block ending with its empty line. Null for anything MimeKit's parser might read
    /// differently (a line that is not a field, white space before a colon, a name outside RFC 5322 ftext, a block
    /// without its empty line): the caller parses that block with MimeKit, so the ENVELOPE is the same either way.
    /// </summary>
    public static EnvelopeFields? TryScan(byte[] header)
    {
        var span = header.AsSpan();
        var f = new EnvelopeFields();
        var i = 0;
        while (i < span.Length)
        {
            if (span[i] == '\n' || (span[i] == '\r' && i + 1 < span.Length && span[i + 1] == '\n'))
                return i + (span[i] == '\n' ? 1 : 2) == span.Length ? f : null; // the empty line ends the block
            var colon = i;
            while (colon < span.Length && span[colon] is >= 33 and <= 126 and not (byte)':') colon++;
            if (colon == i || colon == span.Length || span[colon] != ':') return null;
            var end = FieldEnd(span, colon + 1);
            if (end < 0) return null;
            if (Classify(span[i..colon]) is { } field && !f.Has(field)) f.Set(field, header, colon + 1, end - colon - 1);
            i = end;
        }
        return null; // no empty line
    }

    private bool Has(EnvelopeField field) => _sources[(int)field] is not null;

    private void Set(EnvelopeField field, byte[] source, int start, int length)
    {
        _sources[(int)field] = source;
        _starts[(int)field] = start;
        _lengths[(int)field] = length;
    }

    /// <summary>Past the line ending of the last line of the field (continuation lines start with white space);
    /// -1 when the block ends inside the field.</summary>
    private static int FieldEnd(ReadOnlySpan<byte> header, int from)
    {
        var i = from;
        while (true)
        {
            var lf = header[i..].IndexOf((byte)'\n');
            if (lf < 0) return -1;
            i += lf + 1;
            if (i >= header.Length || header[i] is not ((byte)' ' or (byte)'\t')) return i;
        }
    }

    private static EnvelopeField? Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when Is(name, "To"u8) => EnvelopeField.To,
        2 when Is(name, "Cc"u8) => EnvelopeField.Cc,
        3 when Is(name, "Bcc"u8) => EnvelopeField.Bcc,
        4 when Is(name, "Date"u8) => EnvelopeField.Date,
        4 when Is(name, "From"u8) => EnvelopeField.From,
        6 when Is(name, "Sender"u8) => EnvelopeField.Sender,
        7 when Is(name, "Subject"u8) => EnvelopeField.Subject,
        8 when Is(name, "Reply-To"u8) => EnvelopeField.ReplyTo,
        10 when Is(name, "Message-Id"u8) => EnvelopeField.MessageId,
        11 when Is(name, "In-Reply-To"u8) => EnvelopeField.InReplyTo,
        _ => null,
    };

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> expected) => System.Text.Ascii.EqualsIgnoreCase(name, expected);

    private static HeaderId IdOf(EnvelopeField field) => field switch
    {
        EnvelopeField.Date => HeaderId.Date,
        EnvelopeField.Subject => HeaderId.Subject,
        EnvelopeField.From => HeaderId.From,
        EnvelopeField.Sender => HeaderId.Sender,
        EnvelopeField.ReplyTo => HeaderId.ReplyTo,
        EnvelopeField.To => HeaderId.To,
        EnvelopeField.Cc => HeaderId.Cc,
        EnvelopeField.Bcc => HeaderId.Bcc,
        EnvelopeField.InReplyTo => HeaderId.InReplyTo,
        _ => HeaderId.MessageId,
    };
}
