using System.Buffers;
using System.Text;

namespace Mail.Core.Messages;

/// <summary>One header field of a <see cref="RawMessage"/>: offsets into the message bytes.</summary>
/// <param name="Start">First byte of the field name.</param>
/// <param name="Colon">Offset of the colon ending the name, or -1 for a line without one (kept, never matched).</param>
/// <param name="End">One past the field's last byte: its folded lines and final line ending included.</param>
public readonly record struct RawHeaderField(int Start, int Colon, int End);

/// <summary>
/// A message as stored, byte for byte, with its header section split into fields by one scan: what DKIM, ARC and
/// DMARC read, without a MIME parse. Each field keeps its folded lines and line endings as received (DKIM's simple
/// canonicalization hashes them as they are); the body is everything after the empty line. Like MimeKit's parser
/// and <see cref="HeaderBlock"/> (the stream-based reader the delivery copy and the IMAP gateway use), a line starting
/// with SP or HTAB continues the field above, and a bare LF ends a line as CRLF does.
/// </summary>
public sealed class RawMessage
{
    private readonly RawHeaderField[] _fields;

    private RawMessage(ReadOnlyMemory<byte> bytes, RawHeaderField[] fields, int count, int bodyOffset)
    {
        Bytes = bytes;
        _fields = fields;
        Count = count;
        BodyOffset = bodyOffset;
    }

    public ReadOnlyMemory<byte> Bytes { get; }

    /// <summary>Number of header fields.</summary>
    public int Count { get; }

    public RawHeaderField this[int index] => index < Count ? _fields[index] : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Offset of the first body byte (after the empty line), or the message length when there is no body.</summary>
    public int BodyOffset { get; }

    public ReadOnlySpan<byte> Body => Bytes.Span[BodyOffset..];

    /// <summary>The field name as written before the colon (trailing WSP included, as simple canonicalization wants it).</summary>
    public ReadOnlySpan<byte> RawName(RawHeaderField field) =>
        field.Colon < 0 ? ReadOnlySpan<byte>.Empty : Bytes.Span[field.Start..field.Colon];

    /// <summary>The field name without trailing WSP.</summary>
    public ReadOnlySpan<byte> Name(RawHeaderField field) => RawName(field).TrimEnd(" \t"u8);

    /// <summary>Everything after the colon, folding and the final line ending included.</summary>
    public ReadOnlySpan<byte> RawValue(RawHeaderField field) =>
        field.Colon < 0 ? ReadOnlySpan<byte>.Empty : Bytes.Span[(field.Colon + 1)..field.End];

    /// <summary>Whether the field is named <paramref name="name"/> (ASCII, case-insensitive).</summary>
    public bool Is(RawHeaderField field, string name) => Ascii.EqualsIgnoreCase(Name(field), name);

    /// <summary>The unfolded value as text (line breaks removed, the WSP after them kept, outer WSP trimmed);
    /// UTF-8, as MimeKit decodes a header it has no charset for.</summary>
    public string Value(RawHeaderField field)
    {
        var raw = RawValue(field);
        var buffer = raw.Length <= 512 ? stackalloc char[raw.Length] : new char[raw.Length];
        return new string(Unfold(field, buffer));
    }

    /// <summary><see cref="Value"/> into <paramref name="destination"/> (at least as long as the raw value in bytes),
    /// without a string; returns the part of it used.</summary>
    public Span<char> Unfold(RawHeaderField field, Span<char> destination)
    {
        var length = Encoding.UTF8.GetChars(RawValue(field), destination);
        var text = destination[..length];
        var kept = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is not ('\r' or '\n')) text[kept++] = text[i];
        }
        text = text[..kept];
        var start = 0;
        while (start < text.Length && text[start] is ' ' or '\t') start++;
        var end = text.Length;
        while (end > start && text[end - 1] is ' ' or '\t') end--;
        return text[start..end];
    }

    /// <summary>Index of the first field named <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name, int start = 0)
    {
        for (var i = start; i < Count; i++)
        {
            if (Is(_fields[i], name)) return i;
        }
        return -1;
    }

    /// <summary>How many fields are named <paramref name="name"/>.</summary>
    public int CountOf(string name)
    {
        var count = 0;
        for (var i = IndexOf(name); i >= 0; i = IndexOf(name, i + 1)) count++;
        return count;
    }

    private static readonly SearchValues<byte> LineEnd = SearchValues.Create("\n"u8);

    /// <summary>Splits the header section of <paramref name="bytes"/>; never throws (anything is some header section).</summary>
    public static RawMessage Parse(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        var fields = new RawHeaderField[16];
        var count = 0;
        var position = 0;
        var fieldStart = -1;
        var colon = -1;
        var bodyOffset = span.Length;
        while (position < span.Length)
        {
            var lineStart = position;
            var lf = span[position..].IndexOfAny(LineEnd);
            var next = lf < 0 ? span.Length : position + lf + 1;
            var first = span[lineStart];
            var blank = first == (byte)'\n' || (first == (byte)'\r' && lineStart + 1 < span.Length && span[lineStart + 1] == (byte)'\n');
            if (blank)
            {
                bodyOffset = next;
                break;
            }
            if (first is not ((byte)' ' or (byte)'\t') || fieldStart < 0)
            {
                if (fieldStart >= 0) Add(ref fields, ref count, new RawHeaderField(fieldStart, colon, lineStart));
                fieldStart = lineStart;
                var c = span[lineStart..next].IndexOf((byte)':');
                colon = c < 0 ? -1 : lineStart + c;
            }
            position = next;
        }
        if (fieldStart >= 0) Add(ref fields, ref count, new RawHeaderField(fieldStart, colon, position));
        return new RawMessage(bytes, fields, count, bodyOffset);
    }

    private static void Add(ref RawHeaderField[] fields, ref int count, RawHeaderField field)
    {
        if (count == fields.Length) Array.Resize(ref fields, fields.Length * 2);
        fields[count++] = field;
    }
}
