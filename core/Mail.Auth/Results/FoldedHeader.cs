using System.Text;
using MimeKit;

namespace Mail.Auth.Results;

/// <summary>
/// A header field we write ourselves (Authentication-Results, Received-SPF), folded at spaces to 78 columns and
/// handed to MimeKit's header parser. <c>new Header(name, value)</c> would run the value through RFC 2047 encoding
/// (and re-parse an Authentication-Results value to fold it), which cost more than the DMARC check; for an ASCII
/// value that encoding changes nothing. A value with other characters still goes that way.
/// </summary>
internal static class FoldedHeader
{
    private const int MaxLineLength = 78;

    public static Header Create(string name, string value)
    {
        if (!Ascii.IsValid(value) || value.AsSpan().IndexOfAny('\r', '\n') >= 0 || value.Contains("=?", StringComparison.Ordinal))
            return new Header(name, value);
        // "Name: value CRLF", a CRLF put before the space where the next word would pass the line length: unfolding
        // gives the value back as it was.
        var bytes = new byte[name.Length + 2 + value.Length * 3 / 2 + 4];
        var length = Encoding.ASCII.GetBytes(name, bytes);
        bytes[length++] = (byte)':';
        var column = length;
        var rest = value.AsSpan();
        while (!rest.IsEmpty)
        {
            var next = rest[1..].IndexOf(' ');
            var word = next < 0 ? rest : rest[..(next + 1)];
            if (rest[0] != ' ')
            {
                bytes[length++] = (byte)' '; // the space after the colon
                column++;
            }
            else if (column + word.Length > MaxLineLength && column > name.Length + 1)
            {
                Ensure(ref bytes, length + 2);
                bytes[length++] = (byte)'\r';
                bytes[length++] = (byte)'\n';
                column = 0;
            }
            Ensure(ref bytes, length + word.Length + 2);
            length += Encoding.ASCII.GetBytes(word, bytes.AsSpan(length));
            column += word.Length;
            rest = rest[word.Length..];
        }
        Ensure(ref bytes, length + 2);
        bytes[length++] = (byte)'\r';
        bytes[length++] = (byte)'\n';
        return Header.TryParse(bytes, 0, length, out var header) ? header : new Header(name, value);
    }

    private static void Ensure(ref byte[] bytes, int length)
    {
        if (bytes.Length < length) Array.Resize(ref bytes, Math.Max(length, bytes.Length * 2));
    }
}
