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
        error = null;
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in text.Split(';'))
        {
            var spec = part.Trim(' ', '\t', '\r', '\n');
            if (spec.Length == 0) continue; // a trailing ';' is allowed
            var eq = spec.IndexOf('=');
            if (eq <= 0)
            {
                error = $"malformed tag \"{Shorten(spec)}\"";
                return null;
            }
            var name = spec[..eq].Trim(' ', '\t', '\r', '\n');
            if (name.Length == 0 || !char.IsAsciiLetter(name[0]) || !IsTagName(name))
            {
                error = $"malformed tag name \"{Shorten(name)}\"";
                return null;
            }
            var value = spec[(eq + 1)..].Trim(' ', '\t', '\r', '\n');
            if (!tags.TryAdd(name, value))
            {
                error = $"duplicate tag \"{name}\"";
                return null;
            }
        }
        return tags;
    }

    /// <summary>Removes all folding whitespace (for b=, bh=, p= values).</summary>
    public static string StripWhitespace(string value)
    {
        // One pass and one allocation: this runs on every signature's b= (about 350 characters).
        var span = value.AsSpan();
        if (span.IndexOfAny(Whitespace) < 0) return value;
        var buffer = span.Length <= 1024 ? stackalloc char[span.Length] : new char[span.Length];
        var length = 0;
        foreach (var c in span)
        {
            if (c is not (' ' or '\t' or '\r' or '\n')) buffer[length++] = c;
        }
        return new string(buffer[..length]);
    }

    private static readonly System.Buffers.SearchValues<char> Whitespace = System.Buffers.SearchValues.Create(" \t\r\n");

    private static bool IsTagName(string name)
    {
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_') return false;
        }
        return true;
    }

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "..." : s;
}
