using System.Text;

namespace Mail.Spf;

/// <summary>Where a macro-string appears decides what it may contain (RFC 7208 section 7.1).</summary>
internal enum MacroContext
{
    /// <summary>domain-spec of a mechanism, redirect= or exp=: no spaces, no c/r/t.</summary>
    DomainSpec,
    /// <summary>Value of an unknown modifier: macro-string grammar, any macro letter.</summary>
    UnknownModifier,
    /// <summary>The TXT text fetched by exp=: spaces allowed, c/r/t allowed.</summary>
    Explanation,
}

/// <summary>One piece of a parsed macro-string: literal text, or a %{...} macro to expand.</summary>
internal readonly record struct MacroToken(string? Literal, char Letter, int Digits, bool Reverse, string Delimiters, bool UrlEscape);

/// <summary>The parsed form of a macro-string (RFC 7208 section 7.1).</summary>
internal sealed class MacroString
{
    private const string MacroLetters = "slodiphcrtv";
    private const string ExpOnlyLetters = "crt";
    private const string DelimiterChars = ".-+,/_=";

    private MacroString(string text, IReadOnlyList<MacroToken> tokens, bool endsWithMacro)
    {
        Text = text;
        Tokens = tokens;
        EndsWithMacro = endsWithMacro;
    }

    public string Text { get; }
    public IReadOnlyList<MacroToken> Tokens { get; }

    /// <summary>True when the string ends with a macro-expand (so domain-end needs no literal toplabel).</summary>
    public bool EndsWithMacro { get; }


    /// <summary>Parses; throws <see cref="SpfPermErrorException"/> on any syntax error.</summary>
    public static MacroString Parse(string text, MacroContext context)
    {
        var tokens = new List<MacroToken>();
        var literal = new StringBuilder();
        var endsWithMacro = false;
        var i = 0;
        while (i < text.Length)
        {
            var ch = text[i];
            if (ch == '%')
            {
                if (i + 1 >= text.Length) throw new SpfPermErrorException($"'%' at the end of '{text}'");
                var next = text[i + 1];
                switch (next)
                {
                    case '%': literal.Append('%'); i += 2; endsWithMacro = true; continue;
                    case '_': literal.Append(' '); i += 2; endsWithMacro = true; continue;
                    case '-': literal.Append("%20"); i += 2; endsWithMacro = true; continue;
                    case '{': break;
                    default: throw new SpfPermErrorException($"'%' not followed by '{{', '%', '-' or '_' in '{text}'");
                }
                var close = text.IndexOf('}', i + 2);
                if (close < 0) throw new SpfPermErrorException($"unterminated macro in '{text}'");
                var body = text[(i + 2)..close];
                if (literal.Length > 0)
                {
                    tokens.Add(new MacroToken(literal.ToString(), '\0', 0, false, "", false));
                    literal.Clear();
                }
                tokens.Add(ParseExpand(body, text, context));
                i = close + 1;
                endsWithMacro = true;
                continue;
            }
            var isLiteral = ch is >= (char)0x21 and <= (char)0x7E || (ch == ' ' && context == MacroContext.Explanation);
            if (!isLiteral) throw new SpfPermErrorException($"invalid character U+{(int)ch:X4} in '{text}'");
            literal.Append(ch);
            endsWithMacro = false;
            i++;
        }
        if (literal.Length > 0) tokens.Add(new MacroToken(literal.ToString(), '\0', 0, false, "", false));
        return new MacroString(text, tokens, endsWithMacro);
    }

    private static MacroToken ParseExpand(string body, string text, MacroContext context)
    {
        if (body.Length == 0) throw new SpfPermErrorException($"empty macro in '{text}'");
        var letter = body[0];
        var lower = char.ToLowerInvariant(letter);
        if (!MacroLetters.Contains(lower, StringComparison.Ordinal))
            throw new SpfPermErrorException($"unknown macro letter '{letter}' in '{text}'");
        if (context == MacroContext.DomainSpec && ExpOnlyLetters.Contains(lower, StringComparison.Ordinal))
            throw new SpfPermErrorException($"macro '{letter}' is allowed only in explanation text: '{text}'");
        var p = 1;
        var digitsStart = p;
        while (p < body.Length && char.IsAsciiDigit(body[p])) p++;
        var digits = 0;
        if (p > digitsStart)
        {
            // A huge count just means "all parts" (there are never more than 128 labels).
            var span = body[digitsStart..p];
            digits = span.Length > 4 ? 9999 : int.Parse(span, System.Globalization.CultureInfo.InvariantCulture);
            if (digits == 0) throw new SpfPermErrorException($"zero part count in macro '%{{{body}}}'");
        }
        var reverse = false;
        if (p < body.Length && body[p] is 'r' or 'R')
        {
            reverse = true;
            p++;
        }
        var delimiters = body[p..];
        foreach (var d in delimiters)
            if (!DelimiterChars.Contains(d, StringComparison.Ordinal))
                throw new SpfPermErrorException($"invalid delimiter '{d}' in macro '%{{{body}}}'");
        return new MacroToken(null, lower, digits, reverse, delimiters, char.IsAsciiLetterUpper(letter));
    }

    /// <summary>Expands every macro with values from <paramref name="values"/> (async: %{p} needs DNS).</summary>
    public async Task<string> ExpandAsync(Func<char, Task<string>> values)
    {
        var sb = new StringBuilder();
        foreach (var t in Tokens)
        {
            if (t.Literal is not null)
            {
                sb.Append(t.Literal);
                continue;
            }
            var value = await values(t.Letter);
            value = Transform(value, t);
            sb.Append(t.UrlEscape ? Uri.EscapeDataString(value) : value);
        }
        return sb.ToString();
    }

    // RFC 7208 7.3: split on the delimiters (default "."), optionally reverse, keep the N right-hand parts, join with ".".
    private static string Transform(string value, MacroToken t)
    {
        if (t.Digits == 0 && !t.Reverse && t.Delimiters.Length == 0) return value;
        var delimiters = t.Delimiters.Length == 0 ? ['.'] : t.Delimiters.ToCharArray();
        var parts = value.Split(delimiters);
        if (t.Reverse) Array.Reverse(parts);
        if (t.Digits > 0 && t.Digits < parts.Length) parts = parts[^t.Digits..];
        return string.Join('.', parts);
    }
}
