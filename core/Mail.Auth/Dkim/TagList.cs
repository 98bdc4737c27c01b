using System.Buffers;

namespace Mail.Auth.Dkim;

/// <summary>
/// RFC 6376 3.2 tag=value lists (DKIM-Signature fields, DKIM key records, DMARC records).
/// Whitespace around tags and values is dropped; inside values folding whitespace is kept except for the
/// base64 tags, which callers strip. A duplicate tag makes the whole list invalid.
/// </summary>
public static class TagList
{
    /// <summary>Parses a tag list; returns null with an error when it is malformed.</summary>
    public static Dictionary<string, string>? Parse(string text, out string? error)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        var scan = new Scanner(text);
        while (scan.MoveNext()) tags.Add(scan.Name.ToString(), scan.Value.ToString());
        error = scan.Error;
        return error is null ? tags : null;
    }

    /// <summary>
    /// Walks a tag list in place, one tag at a time, without allocating (the DKIM-Signature of every message goes
    /// through it). <see cref="MoveNext"/> returns false at the end or at the first malformed or repeated tag, and
    /// then <see cref="Error"/> says which.
    /// </summary>
    public ref struct Scanner(ReadOnlySpan<char> text)
    {
        private readonly ReadOnlySpan<char> _text = text;
        private int _next;

        /// <summary>The current tag's name and value (outer whitespace trimmed).</summary>
        public ReadOnlySpan<char> Name { get; private set; }
        public ReadOnlySpan<char> Value { get; private set; }

        /// <summary>Set when the list is malformed (a permerror); null at a clean end.</summary>
        public string? Error { get; private set; }

        public bool MoveNext()
        {
            while (_next <= _text.Length && Error is null)
            {
                var start = _next;
                var semi = _text[start..].IndexOf(';');
                var end = semi < 0 ? _text.Length : start + semi;
                _next = end + 1;
                var spec = _text[start..end].Trim(Whitespace);
                if (spec.IsEmpty) continue; // a trailing ';' is allowed
                if (!Split(spec, out var name, out var value))
                {
                    Error = $"malformed tag \"{Shorten(spec)}\"";
                    return false;
                }
                if (!char.IsAsciiLetter(name[0]) || name.ContainsAnyExcept(TagNameChars))
                {
                    Error = $"malformed tag name \"{Shorten(name)}\"";
                    return false;
                }
                if (Seen(_text[..start], name))
                {
                    Error = $"duplicate tag \"{name}\"";
                    return false;
                }
                Name = name;
                Value = value;
                return true;
            }
            return false;
        }

        private static bool Split(ReadOnlySpan<char> spec, out ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
        {
            var eq = spec.IndexOf('=');
            name = eq > 0 ? spec[..eq].Trim(Whitespace) : default;
            value = eq > 0 ? spec[(eq + 1)..].Trim(Whitespace) : default;
            return eq > 0;
        }

        // Whether an earlier tag (all of them valid, or the scan would have stopped) has this name. Lists are short
        // (a dozen tags), so scanning them again costs less than any table.
        private static bool Seen(ReadOnlySpan<char> before, ReadOnlySpan<char> name)
        {
            foreach (var range in before.Split(';'))
            {
                var spec = before[range].Trim(Whitespace);
                if (!spec.IsEmpty && Split(spec, out var earlier, out _) && earlier.SequenceEqual(name)) return true;
            }
            return false;
        }
    }

    /// <summary>Removes all folding whitespace (for b=, bh=, p= values).</summary>
    public static string StripWhitespace(string value) =>
        value.AsSpan().IndexOfAny(WhitespaceValues) < 0 ? value : StripWhitespace(value.AsSpan());

    /// <inheritdoc cref="StripWhitespace(string)"/>
    public static string StripWhitespace(ReadOnlySpan<char> span)
    {
        // One pass and one allocation: this runs on every signature's b= (about 350 characters).
        if (span.IndexOfAny(WhitespaceValues) < 0) return span.ToString();
        var buffer = span.Length <= 1024 ? stackalloc char[span.Length] : new char[span.Length];
        var length = 0;
        foreach (var c in span)
        {
            if (c is not (' ' or '\t' or '\r' or '\n')) buffer[length++] = c;
        }
        return new string(buffer[..length]);
    }

    private const string Whitespace = " \t\r\n";
    private static readonly SearchValues<char> WhitespaceValues = SearchValues.Create(Whitespace);
    private static readonly SearchValues<char> TagNameChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

    private static string Shorten(ReadOnlySpan<char> s) => s.Length > 40 ? string.Concat(s[..40], "...") : s.ToString();
}
