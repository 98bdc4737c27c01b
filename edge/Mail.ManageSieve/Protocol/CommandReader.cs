using System.Globalization;
using System.Text;
using Mail.Core.Listening;

namespace Mail.ManageSieve.Protocol;

/// <summary>
/// Reads one command's tokens (or one SASL response) of RFC 5804 section 4: atoms, numbers, quoted strings and literals, the
/// literal either non-synchronizing <c>{n+}</c> or <c>{n}</c> (ManageSieve has no continuation for literals, so both
/// are read the same). A literal larger than the script limit is read and dropped, and the command refused with
/// NO (QUOTA/MAXSIZE); one past <see cref="MaxSkippedLiteral"/> is not worth reading, and the connection is closed.
/// </summary>
internal sealed class CommandReader(LineConnection connection, int maxLineLength, int maxLiteral)
{
    /// <summary>Largest oversized literal still read through to keep the session in step.</summary>
    public const long MaxSkippedLiteral = 16L << 20;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public async ValueTask<CommandRead<IReadOnlyList<Token>>> ReadAsync(CancellationToken ct)
    {
        var tokens = new List<Token>();
        string? refusal = null;
        while (true)
        {
            var line = await connection.ReadLineAsync(maxLineLength, ct);
            if (line.IsEnd) return default;
            if (line.IsTooLong) return new CommandRead<IReadOnlyList<Token>>(null, ManageSieveReplies.LineTooLong(maxLineLength), false);
            var text = line.Text!;
            var literal = TrailingLiteral(ref text);
            refusal ??= Tokenize(text, tokens);
            if (literal is not { } size) break;
            if (size > MaxSkippedLiteral) return new CommandRead<IReadOnlyList<Token>>(null, ManageSieveReplies.LiteralTooLarge(size), true);
            if (refusal is null && size <= maxLiteral)
            {
                var bytes = await connection.ReadBytesAsync(size, ct);
                if (bytes is null) return default;
                try
                {
                    tokens.Add(new Token(TokenKind.String, StrictUtf8.GetString(bytes), size));
                }
                catch (DecoderFallbackException)
                {
                    refusal = ManageSieveReplies.Syntax("a string is not valid UTF-8");
                }
            }
            else
            {
                if (!await SkipAsync(size, ct)) return default;
                refusal ??= ManageSieveReplies.TooLarge(size, maxLiteral);
            }
        }
        return refusal is null ? new CommandRead<IReadOnlyList<Token>>(tokens, null, false) : new CommandRead<IReadOnlyList<Token>>(null, refusal, false);
    }

    /// <summary>Removes a final "{n}" or "{n+}" from the line and returns n: the line goes on after n octets.</summary>
    private static long? TrailingLiteral(ref string line)
    {
        if (!line.EndsWith('}')) return null;
        var open = line.LastIndexOf('{');
        if (open < 0 || (open > 0 && line[open - 1] != ' ')) return null;
        var digits = line.AsSpan(open + 1, line.Length - open - 2);
        if (digits.EndsWith("+")) digits = digits[..^1];
        if (digits.Length is 0 or > 18 || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var size)) return null;
        line = line[..open];
        return size;
    }

    /// <summary>Adds the tokens of one line segment; the refusal when it is not well formed, else null.</summary>
    private static string? Tokenize(string text, List<Token> tokens)
    {
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == ' ')
            {
                i++;
                continue;
            }
            if (text[i] == '"')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length) return ManageSieveReplies.Syntax("unterminated quoted string");
                    var c = text[i++];
                    if (c == '"') break;
                    if (c == '\\')
                    {
                        if (i >= text.Length || text[i] is not ('\\' or '"')) return ManageSieveReplies.Syntax("only \\\\ and \\\" may be escaped in a quoted string");
                        c = text[i++];
                    }
                    else if (c == '\0') return ManageSieveReplies.Syntax("NUL in a quoted string");
                    value.Append(c);
                }
                if (i < text.Length && text[i] != ' ') return ManageSieveReplies.Syntax("a space must follow a quoted string");
                tokens.Add(new Token(TokenKind.String, value.ToString(), Encoding.UTF8.GetByteCount(value.ToString())));
                continue;
            }
            var end = text.IndexOf(' ', i);
            if (end < 0) end = text.Length;
            var atom = text[i..end];
            i = end;
            if (atom.Any(c => c is '"' or '{' or '}' or '\\' || char.IsControl(c))) return ManageSieveReplies.Syntax($"unexpected characters in '{Shorten(atom)}'");
            tokens.Add(atom.All(char.IsAsciiDigit)
                ? new Token(TokenKind.Number, atom)
                : new Token(TokenKind.Atom, atom));
        }
        return null;
    }

    private async ValueTask<bool> SkipAsync(long size, CancellationToken ct)
    {
        while (size > 0)
        {
            var chunk = (int)Math.Min(size, 64 * 1024);
            if (await connection.ReadBytesAsync(chunk, ct) is null) return false;
            size -= chunk;
        }
        return true;
    }

    internal static string Shorten(string s) => s.Length > 20 ? s[..20] + "..." : s;
}
