using System.Globalization;
using System.Text;

namespace Mail.Sieve;

internal enum TokenKind { Identifier, Tag, Number, String, LeftBracket, RightBracket, LeftParen, RightParen, Comma, Semicolon, LeftBrace, RightBrace, End }

internal readonly record struct Token(TokenKind Kind, string Text, long Number, int Line);

/// <summary>RFC 5228 section 8.1's lexical tokens: identifiers, tags, numbers with K/M/G, quoted strings (only
/// <c>\"</c> and <c>\\</c> are escapes; any other backslash is dropped), <c>text:</c> multi-line strings with
/// dot-stuffing, and both comment forms.</summary>
internal sealed class Lexer(string source)
{
    private int _pos;
    private int _line = 1;

    public List<Token> Tokenize()
    {
        var tokens = new List<Token>();
        while (true)
        {
            SkipWhitespaceAndComments();
            if (_pos >= source.Length)
            {
                tokens.Add(new Token(TokenKind.End, "", 0, _line));
                return tokens;
            }
            tokens.Add(Next());
        }
    }

    private Token Next()
    {
        var c = source[_pos];
        var line = _line;
        switch (c)
        {
            case '[': _pos++; return new Token(TokenKind.LeftBracket, "[", 0, line);
            case ']': _pos++; return new Token(TokenKind.RightBracket, "]", 0, line);
            case '(': _pos++; return new Token(TokenKind.LeftParen, "(", 0, line);
            case ')': _pos++; return new Token(TokenKind.RightParen, ")", 0, line);
            case ',': _pos++; return new Token(TokenKind.Comma, ",", 0, line);
            case ';': _pos++; return new Token(TokenKind.Semicolon, ";", 0, line);
            case '{': _pos++; return new Token(TokenKind.LeftBrace, "{", 0, line);
            case '}': _pos++; return new Token(TokenKind.RightBrace, "}", 0, line);
            case '"': return QuotedString();
            case ':':
                _pos++;
                var tag = Identifier();
                if (tag.Length == 0) throw new SieveCompileException(line, "unexpected character ':'");
                return new Token(TokenKind.Tag, ":" + tag.ToLowerInvariant(), 0, line);
        }
        if (char.IsAsciiDigit(c)) return NumberToken();
        if (char.IsAsciiLetter(c) || c == '_')
        {
            var id = Identifier();
            if (id.Equals("text", StringComparison.OrdinalIgnoreCase) && _pos < source.Length && source[_pos] == ':')
            {
                _pos++;
                return MultiLine(line);
            }
            return new Token(TokenKind.Identifier, id.ToLowerInvariant(), 0, line);
        }
        throw new SieveCompileException(line, $"unexpected character '{c}'");
    }

    private string Identifier()
    {
        var start = _pos;
        while (_pos < source.Length && (char.IsAsciiLetterOrDigit(source[_pos]) || source[_pos] == '_')) _pos++;
        return source[start.._pos];
    }

    private Token NumberToken()
    {
        var line = _line;
        var start = _pos;
        while (_pos < source.Length && char.IsAsciiDigit(source[_pos])) _pos++;
        if (!long.TryParse(source.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > uint.MaxValue)
            throw new SieveCompileException(line, "number is too large");
        if (_pos < source.Length)
        {
            long unit = char.ToUpperInvariant(source[_pos]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
            if (unit > 1) { _pos++; value *= unit; }
        }
        return new Token(TokenKind.Number, source[start.._pos], value, line);
    }

    private Token QuotedString()
    {
        var line = _line;
        _pos++;
        var text = new StringBuilder();
        while (true)
        {
            if (_pos >= source.Length) throw new SieveCompileException(line, "unterminated string");
            var c = source[_pos++];
            if (c == '"') return new Token(TokenKind.String, text.ToString(), 0, line);
            if (c == '\\')
            {
                if (_pos >= source.Length) throw new SieveCompileException(line, "unterminated string");
                c = source[_pos++];
            }
            if (c == '\n') _line++;
            text.Append(c);
        }
    }

    /// <summary><c>text:</c> then blanks or a hash comment to the end of the line; the lines up to one holding a lone
    /// dot; a line starting with two dots loses one.</summary>
    private Token MultiLine(int line)
    {
        while (_pos < source.Length && source[_pos] is ' ' or '\t') _pos++;
        if (_pos < source.Length && source[_pos] == '#')
            while (_pos < source.Length && source[_pos] != '\n') _pos++;
        if (_pos < source.Length && source[_pos] == '\r') _pos++;
        if (_pos >= source.Length || source[_pos] != '\n') throw new SieveCompileException(_line, "text: must be followed by a line break");
        _pos++;
        _line++;
        var text = new StringBuilder();
        while (true)
        {
            if (_pos >= source.Length) throw new SieveCompileException(_line, "end of file before end of multi-line string (no line with a lone '.')");
            var end = source.IndexOf('\n', _pos);
            var lineText = end < 0 ? source[_pos..] : source[_pos..end];
            _pos = end < 0 ? source.Length : end + 1;
            _line++;
            if (lineText.EndsWith('\r')) lineText = lineText[..^1];
            if (lineText == ".") return new Token(TokenKind.String, text.ToString(), 0, line);
            if (lineText.StartsWith("..", StringComparison.Ordinal)) lineText = lineText[1..];
            text.Append(lineText).Append("\r\n");
        }
    }

    private void SkipWhitespaceAndComments()
    {
        while (_pos < source.Length)
        {
            var c = source[_pos];
            if (c == '\n') { _line++; _pos++; }
            else if (c is ' ' or '\t' or '\r') _pos++;
            else if (c == '#')
            {
                while (_pos < source.Length && source[_pos] != '\n') _pos++;
            }
            else if (c == '/' && _pos + 1 < source.Length && source[_pos + 1] == '*')
            {
                var line = _line;
                var end = source.IndexOf("*/", _pos + 2, StringComparison.Ordinal);
                if (end < 0) throw new SieveCompileException(line, "unterminated comment");
                for (var i = _pos; i < end; i++) if (source[i] == '\n') _line++;
                _pos = end + 2;
            }
            else return;
        }
    }
}
