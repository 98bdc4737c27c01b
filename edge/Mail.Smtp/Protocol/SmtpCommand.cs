using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Mail.Smtp.Protocol;

internal enum SmtpVerb
{
    Unknown,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
    /// <summary>Not a verb: the line broke a framing rule (bare CR/LF, too long, not UTF-8); the session answers 500.</summary>
    Invalid,
}

/// <summary>One parsed command line. <see cref="Argument"/> is only materialised for verbs that take one.</summary>
internal readonly record struct SmtpCommand(SmtpVerb Verb, string? Argument, string? Error = null);

internal enum LineStatus
{
    /// <summary>No LF yet: read more.</summary>
    Incomplete,
    Complete,
}

/// <summary>
/// Splits command lines out of the connection buffer and recognises the verb, without copying
/// the line to the heap. Strict framing: a command ends only at CRLF; a bare LF or a CR anywhere
/// else makes the whole line invalid (RFC 5321 2.3.8, SMTP smuggling).
/// </summary>
internal static class SmtpCommandParser
{
    /// <summary>Longest line we parse on the stack; longer lines are refused before they get here.</summary>
    public const int MaxStackLine = 4096;

    /// <summary>Finds the next LF. <paramref name="line"/> is everything before it (CR included), <paramref name="next"/> the position after it.</summary>
    public static LineStatus TryReadLine(in ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line, out SequencePosition next)
    {
        var lf = buffer.PositionOf((byte)'\n');
        if (lf is null)
        {
            line = default;
            next = buffer.Start;
            return LineStatus.Incomplete;
        }
        line = buffer.Slice(0, lf.Value);
        next = buffer.GetPosition(1, lf.Value);
        return LineStatus.Complete;
    }

    /// <summary>True when the first octets of a (possibly partial) line name MAIL or RCPT, which may be longer (extension parameters),
    /// or AUTH (its initial response is base64 of the credentials, RFC 4954 4).</summary>
    public static bool IsParameterCommand(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 4) return false;
        Span<byte> verb = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(verb);
        return Ascii.EqualsIgnoreCase(verb, "MAIL"u8) || Ascii.EqualsIgnoreCase(verb, "RCPT"u8) || Ascii.EqualsIgnoreCase(verb, "AUTH"u8);
    }

    /// <summary>Parses a complete line (LF removed, CR still there).</summary>
    public static SmtpCommand Parse(in ReadOnlySequence<byte> line)
    {
        if (line.Length > MaxStackLine) return new(SmtpVerb.Invalid, null, "Line too long");
        if (line.IsSingleSegment) return Parse(line.FirstSpan);
        Span<byte> stack = stackalloc byte[(int)line.Length];
        line.CopyTo(stack);
        return Parse(stack);
    }

    /// <summary>A SASL continuation line (RFC 4954 4): same framing rules as a command, the whole line is the argument of an <see cref="SmtpVerb.Unknown"/>.</summary>
    public static SmtpCommand ParseRaw(in ReadOnlySequence<byte> line)
    {
        if (line.Length > MaxStackLine) return new(SmtpVerb.Invalid, null, "Line too long");
        Span<byte> span = stackalloc byte[(int)line.Length];
        line.CopyTo(span);
        if (span.Length == 0 || span[^1] != (byte)'\r') return new(SmtpVerb.Invalid, null, "Bare <LF> received; lines must end with <CR><LF>");
        span = span[..^1];
        if (span.IndexOf((byte)'\r') >= 0) return new(SmtpVerb.Invalid, null, "Bare <CR> received");
        if (!Ascii.IsValid(span)) return new(SmtpVerb.Invalid, null, "Response is not base64");
        return new(SmtpVerb.Unknown, Encoding.ASCII.GetString(span));
    }

    public static SmtpCommand Parse(ReadOnlySpan<byte> span)
    {
        if (span.Length == 0 || span[^1] != (byte)'\r') return new(SmtpVerb.Invalid, null, "Bare <LF> received; commands must end with <CR><LF>");
        span = span[..^1];
        if (span.IndexOf((byte)'\r') >= 0) return new(SmtpVerb.Invalid, null, "Bare <CR> received; not allowed in commands");
        var space = span.IndexOf((byte)' ');
        var verbSpan = space < 0 ? span : span[..space];
        var verb = RecogniseVerb(verbSpan);
        var rest = space < 0 ? ReadOnlySpan<byte>.Empty : span[(space + 1)..];
        if (verb is SmtpVerb.Unknown or SmtpVerb.Data or SmtpVerb.Rset or SmtpVerb.Noop or SmtpVerb.Quit or SmtpVerb.StartTls)
        {
            // No argument needed; still tell the session whether one was given (RFC 5321: DATA/RSET/QUIT take none).
            return new(verb, rest.Trim((byte)' ').Length == 0 ? null : "");
        }
        if (!Utf8.IsValid(rest)) return new(SmtpVerb.Invalid, null, "Command is not valid UTF-8");
        return new(verb, Encoding.UTF8.GetString(rest));
    }

    private static SmtpVerb RecogniseVerb(ReadOnlySpan<byte> v)
    {
        if (v.Length == 4)
        {
            if (Ascii.EqualsIgnoreCase(v, "MAIL"u8)) return SmtpVerb.Mail;
            if (Ascii.EqualsIgnoreCase(v, "RCPT"u8)) return SmtpVerb.Rcpt;
            if (Ascii.EqualsIgnoreCase(v, "DATA"u8)) return SmtpVerb.Data;
            if (Ascii.EqualsIgnoreCase(v, "BDAT"u8)) return SmtpVerb.Bdat;
            if (Ascii.EqualsIgnoreCase(v, "EHLO"u8)) return SmtpVerb.Ehlo;
            if (Ascii.EqualsIgnoreCase(v, "HELO"u8)) return SmtpVerb.Helo;
            if (Ascii.EqualsIgnoreCase(v, "RSET"u8)) return SmtpVerb.Rset;
            if (Ascii.EqualsIgnoreCase(v, "NOOP"u8)) return SmtpVerb.Noop;
            if (Ascii.EqualsIgnoreCase(v, "QUIT"u8)) return SmtpVerb.Quit;
            if (Ascii.EqualsIgnoreCase(v, "VRFY"u8)) return SmtpVerb.Vrfy;
            if (Ascii.EqualsIgnoreCase(v, "EXPN"u8)) return SmtpVerb.Expn;
            if (Ascii.EqualsIgnoreCase(v, "HELP"u8)) return SmtpVerb.Help;
            if (Ascii.EqualsIgnoreCase(v, "AUTH"u8)) return SmtpVerb.Auth;
        }
        else if (v.Length == 8 && Ascii.EqualsIgnoreCase(v, "STARTTLS"u8)) return SmtpVerb.StartTls;
        return SmtpVerb.Unknown;
    }
}
