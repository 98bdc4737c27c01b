using System.Text;
using Mail.Core.Listening;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>One command as read: its text with a NUL where each literal was, and the literals. Skip: the reader has
/// answered it already (too long, a NUL in the line, a literal over the limit).</summary>
internal sealed record CommandText(string Text, List<byte[]> Literals, bool Skip = false);

/// <summary>Reads commands off the connection (RFC 9051 2.2.1, 4.3): lines, synchronizing and non-synchronizing
/// literals (RFC 7888 LITERAL+) and literal8 (RFC 3516), within the configured line and literal limits.</summary>
internal sealed class CommandReader(LineConnection conn, ImapServerOptions options)
{
    /// <summary>The command whose literals are being read (set once a literal follows its first line): named in the
    /// log line when the connection is lost in the middle of it.</summary>
    public CommandName? Reading { get; private set; }

    /// <summary>Reads one command: its line(s) with the literals between them, answering "+" for synchronizing literals.
    /// Null at end of stream (or after a fatal protocol error has been answered with BYE).</summary>
    public async Task<CommandText?> ReadAsync(CancellationToken ct)
    {
        Reading = null;
        var sb = new StringBuilder();
        var literals = new List<byte[]>();
        while (true)
        {
            var line = await conn.ReadLineAsync(options.MaxLineLength, ct);
            if (line.IsEnd)
            {
                if (literals.Count == 0) return null;
                throw new IOException("Connection closed after a literal, before the rest of the command");
            }
            if (line.IsTooLong)
            {
                conn.WriteLine($"* BAD Command line longer than {options.MaxLineLength} octets");
                return new CommandText("", literals, Skip: true);
            }
            var text = line.Text!;
            if (text.Contains('\0'))
            {
                conn.WriteLine($"{TagOf(sb + text)} BAD NUL is not allowed in a command line");
                return new CommandText("", literals, Skip: true);
            }
            sb.Append(text);
            if (sb.Length > options.MaxLineLength)
            {
                conn.WriteLine($"* BAD Command longer than {options.MaxLineLength} octets");
                return new CommandText("", literals, Skip: true);
            }
            if (!TryLiteralSuffix(text, out var size, out var nonSync, out var suffix)) break;
            sb.Length -= suffix;
            Reading ??= NameOf(sb.ToString());
            if (size > options.MaxLiteralSize)
            {
                if (nonSync)
                {
                    // The client is sending the octets anyway; there is no way back into step with it.
                    conn.WriteLine($"* BYE [TOOBIG] Literal larger than {options.MaxLiteralSize} octets");
                    await conn.FlushAsync(ct);
                    return null;
                }
                conn.WriteLine($"{TagOf(sb.ToString())} NO [TOOBIG] Literal larger than {options.MaxLiteralSize} octets");
                return new CommandText("", literals, Skip: true);
            }
            if (!nonSync)
            {
                conn.WriteLine("+ Ready for literal data");
                await conn.FlushAsync(ct);
            }
            var data = await conn.ReadBytesAsync(size, ct)
                ?? throw new IOException($"Connection closed in the middle of a literal of {size} octets");
            literals.Add(data);
            sb.Append('\0');
        }
        return new CommandText(sb.ToString(), literals);
    }

    /// <summary>"{123}", "{123+}" (LITERAL+), "~{123}" (literal8) at the end of a line.</summary>
    internal static bool TryLiteralSuffix(string line, out long size, out bool nonSync, out int suffixLength)
    {
        size = 0;
        nonSync = false;
        suffixLength = 0;
        if (!line.EndsWith('}')) return false;
        var open = line.LastIndexOf('{');
        if (open < 0) return false;
        var inner = line.AsSpan(open + 1, line.Length - open - 2);
        if (inner.EndsWith("+")) { nonSync = true; inner = inner[..^1]; }
        if (inner.Length == 0 || inner.Length > 18) return false;
        foreach (var c in inner) if (!char.IsAsciiDigit(c)) return false;
        size = long.Parse(inner, System.Globalization.CultureInfo.InvariantCulture);
        suffixLength = line.Length - open;
        if (open > 0 && line[open - 1] == '~') suffixLength++;
        return true;
    }

    /// <summary>Tag and command name of a command's text so far, for the log (the command is not parsed yet).</summary>
    internal static CommandName NameOf(string text)
    {
        var words = text.Split(' ', 4);
        var name = words.Length > 1 ? words[1].ToUpperInvariant() : "";
        if (name == "UID" && words.Length > 2) name += " " + words[2].ToUpperInvariant();
        return new CommandName(TagOf(text), Truncate(name));
    }

    /// <summary>A client's word as quoted back in a reply or a log line: at most 40 characters.</summary>
    internal static string Truncate(string s) => s.Length > 40 ? s[..40] + "..." : s;

    internal static string TagOf(string text)
    {
        var sp = text.IndexOf(' ');
        var tag = sp < 0 ? text : text[..sp];
        return tag.Length > 0 && tag.All(c => ArgReader.IsAtomChar(c) && c != '+') ? tag : "*";
    }
}
