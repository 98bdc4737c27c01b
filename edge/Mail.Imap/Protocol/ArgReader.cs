using System.Globalization;
using System.Text;

namespace Mail.Imap.Protocol;

/// <summary>A command the client sent that does not follow the grammar: answered with BAD and this reason.</summary>
internal sealed class ImapParseException(string message) : Exception(message);

/// <summary>
/// Reads the arguments of one command (RFC 9051 section 9 grammar). The command text holds a NUL at each
/// place a literal stood; the literal octets are kept aside in order, so a literal never has to be text.
/// </summary>
internal sealed class ArgReader(string text, IReadOnlyList<byte[]> literals)
{
    private const char LiteralMark = '\0';
    private int _pos;
    private int _literal;

    public int Position => _pos;
    public bool AtEnd => _pos >= text.Length;
    public char Peek => _pos < text.Length ? text[_pos] : '\uffff';

    public void ExpectEnd()
    {
        if (!AtEnd) throw new ImapParseException($"Unexpected characters at the end of the command: \"{Snippet()}\"");
    }

    private string Snippet() => text.Length - _pos > 30 ? text.Substring(_pos, 30) + "..." : text[_pos..];

    public void Space()
    {
        if (Peek != ' ') throw new ImapParseException(AtEnd ? "Missing argument" : $"Expected a space before \"{Snippet()}\"");
        _pos++;
    }

    public bool TrySpace()
    {
        if (Peek != ' ') return false;
        _pos++;
        return true;
    }

    public bool TryChar(char c)
    {
        if (Peek != c) return false;
        _pos++;
        return true;
    }

    public void Expect(char c)
    {
        if (!TryChar(c)) throw new ImapParseException(AtEnd ? $"Expected '{c}' but the command ended" : $"Expected '{c}' at \"{Snippet()}\"");
    }

    public static bool IsAtomChar(char c) =>
        c > ' ' && c < 0x7f && c is not ('(' or ')' or '{' or '%' or '*' or '"' or '\\' or ']');

    /// <summary>ATOM-CHAR run; <paramref name="extra"/> lists specials allowed here too (e.g. "]" for astring, "*%" for list-mailbox).</summary>
    public string Atom(string extra = "")
    {
        var start = _pos;
        while (_pos < text.Length && (IsAtomChar(text[_pos]) || extra.Contains(text[_pos]) || (text[_pos] > 0x7f && extra.Contains('\u0080'))))
            _pos++;
        if (_pos == start) throw new ImapParseException(AtEnd ? "Missing argument" : $"Expected an atom at \"{Snippet()}\"");
        return text[start.._pos];
    }

    public bool TryAtom(string value)
    {
        if (string.Compare(text, _pos, value, 0, value.Length, StringComparison.OrdinalIgnoreCase) != 0) return false;
        var end = _pos + value.Length;
        if (end < text.Length && IsAtomChar(text[end])) return false;
        _pos = end;
        return true;
    }

    public string Quoted()
    {
        Expect('"');
        var sb = new StringBuilder();
        while (true)
        {
            if (AtEnd) throw new ImapParseException("Unterminated quoted string");
            var c = text[_pos++];
            if (c == '"') return sb.ToString();
            if (c == '\\')
            {
                if (AtEnd || text[_pos] is not ('"' or '\\')) throw new ImapParseException("Only \\\" and \\\\ may be escaped in a quoted string");
                c = text[_pos++];
            }
            sb.Append(c);
        }
    }

    public byte[] Literal()
    {
        if (Peek != LiteralMark) throw new ImapParseException($"Expected a literal at \"{Snippet()}\"");
        _pos++;
        return literals[_literal++];
    }

    public bool AtLiteral => Peek == LiteralMark;

    /// <summary>string = quoted / literal.</summary>
    public string String() => Peek == '"' ? Quoted() : Encoding.UTF8.GetString(Literal());

    /// <summary>astring = 1*ASTRING-CHAR / string. 8-bit characters are allowed in atoms for UTF8=ACCEPT-style clients.</summary>
    public string AString() => Peek is '"' or LiteralMark ? String() : Atom("]\u0080");

    /// <summary>list-mailbox = 1*list-char / string (list-char adds "%" and "*").</summary>
    public string ListMailbox() => Peek is '"' or LiteralMark ? String() : Atom("]%*\u0080");

    public string? NString()
    {
        if (TryAtom("NIL")) return null;
        return String();
    }

    public long Number()
    {
        var start = _pos;
        while (_pos < text.Length && char.IsAsciiDigit(text[_pos])) _pos++;
        if (_pos == start || _pos - start > 19 || !long.TryParse(text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            _pos = start;
            throw new ImapParseException($"Expected a number at \"{Snippet()}\"");
        }
        return n;
    }

    public long NzNumber()
    {
        var n = Number();
        if (n == 0) throw new ImapParseException("Zero is not allowed here");
        return n;
    }

    /// <summary>Letters, digits and dots: a FETCH item name such as BODY.PEEK or RFC822.SIZE.</summary>
    public string Word()
    {
        var start = _pos;
        while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] == '.')) _pos++;
        if (_pos == start) throw new ImapParseException(AtEnd ? "Missing argument" : $"Unexpected \"{Snippet()}\"");
        return text[start.._pos];
    }

    /// <summary>sequence-set text (digits, ':', ',', '*', '$').</summary>
    public string SequenceSetText()
    {
        var start = _pos;
        while (_pos < text.Length && (char.IsAsciiDigit(text[_pos]) || text[_pos] is ':' or ',' or '*' or '$')) _pos++;
        if (_pos == start) throw new ImapParseException(AtEnd ? "Missing sequence set" : $"Expected a sequence set at \"{Snippet()}\"");
        return text[start.._pos];
    }

    /// <summary>flag-list = "(" [flag *(SP flag)] ")"; or a single flag when <paramref name="allowBare"/>.</summary>
    public List<string> FlagList(bool allowBare = false)
    {
        var flags = new List<string>();
        var paren = TryChar('(');
        if (!paren && !allowBare) throw new ImapParseException("Expected a parenthesised flag list");
        if (paren && TryChar(')')) return flags;
        while (true)
        {
            flags.Add(Flag());
            if (!paren) return flags;
            if (TryChar(')')) return flags;
            Space();
        }
    }

    public string Flag()
    {
        if (TryChar('\\'))
        {
            if (TryChar('*')) return "\\*";
            var name = Atom();
            return "\\" + name;
        }
        return Atom();
    }

    /// <summary>Raw text of a bracketed section spec up to its ']' (parentheses inside are kept).</summary>
    public string Section()
    {
        Expect('[');
        var start = _pos;
        var depth = 0;
        while (true)
        {
            if (AtEnd) throw new ImapParseException("Unterminated section '['");
            var c = text[_pos];
            if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == ']' && depth == 0) break;
            else if (c == '"')
            {
                Quoted();
                continue;
            }
            _pos++;
        }
        var s = text[start.._pos];
        _pos++;
        return s;
    }
}
