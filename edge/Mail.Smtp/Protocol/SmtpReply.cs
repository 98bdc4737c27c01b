using System.Globalization;
using System.Text;

namespace Mail.Smtp.Protocol;

/// <summary>
/// One SMTP reply line: code (RFC 5321 4.2), enhanced status code (RFC 3463; null where RFC 2034 section 3 allows none:
/// the greeting, HELO/EHLO, 334 and 354) and text. A reply whose text is fixed is encoded once, when the catalogue
/// (<see cref="SmtpReplies"/>) is built, and written by copying those bytes; one that carries data (an address, a size)
/// is formatted into the connection's buffer when written.
/// </summary>
internal readonly struct SmtpReply
{
    private readonly byte[]? _encoded;

    /// <summary>A reply formatted when written (its text carries data).</summary>
    public SmtpReply(int code, string? enhancedCode, string text, bool continues = false)
    {
        Code = code;
        EnhancedCode = enhancedCode;
        Text = text;
        Continues = continues;
    }

    private SmtpReply(int code, string? enhancedCode, string text, bool continues, byte[] encoded)
        : this(code, enhancedCode, text, continues) => _encoded = encoded;

    /// <summary>A reply with a fixed text, encoded now: "CODE[ |-][ENH ]TEXT\r\n".</summary>
    public static SmtpReply Fixed(int code, string? enhancedCode, string text, bool continues = false) =>
        new(code, enhancedCode, text, continues, Encoding.UTF8.GetBytes(Format(code, enhancedCode, text, continues) + "\r\n"));

    public int Code { get; }

    public string? EnhancedCode { get; }

    public string Text { get; }

    /// <summary>A line of a multiline reply that more lines follow ("250-"); false for the last (or only) line ("250 ").</summary>
    public bool Continues { get; }

    /// <summary>The whole line with its CRLF when the text is fixed; empty for a reply formatted when written.</summary>
    public ReadOnlySpan<byte> Encoded => _encoded;

    public bool IsEncoded => _encoded is not null;

    /// <summary>The whole line with its CRLF, for a caller that sends it without a <see cref="SmtpReplyWriter"/>.</summary>
    public byte[] ToArray() => _encoded is not null ? (byte[])_encoded.Clone() : Encoding.UTF8.GetBytes(ToString() + "\r\n");

    public override string ToString() => Format(Code, EnhancedCode, Text, Continues);

    private static string Format(int code, string? enhancedCode, string text, bool continues) =>
        string.Create(CultureInfo.InvariantCulture, $"{code}{(continues ? '-' : ' ')}{(enhancedCode is null ? "" : enhancedCode + " ")}{text}");
}
