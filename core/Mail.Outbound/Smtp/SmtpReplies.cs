using System.Text.RegularExpressions;
using Mail.Core.Model;

namespace Mail.Outbound.Smtp;

/// <summary>Turns remote replies and connection failures into <see cref="RemoteReply"/>s (RFC 5321 codes, RFC 3463 enhanced codes).</summary>
internal static partial class SmtpReplies
{
    [GeneratedRegex(@"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")]
    private static partial Regex EnhancedCode();

    /// <summary>Longest reply text kept (Postfix line_length_limit).</summary>
    public const int MaxReplyText = 2048;

    /// <summary>A server's reply: the enhanced code from its text when given, else the generic one for its class.</summary>
    public static RemoteReply FromServer(int code, string text, string host, string address)
    {
        var flat = text.Replace("\r", "", StringComparison.Ordinal).Replace('\n', ' ').Trim();
        var m = EnhancedCode().Match(flat);
        string enhanced;
        if (m.Success && m.Groups[1].Value[0] == (char)('0' + code / 100))
        {
            enhanced = m.Value;
            flat = flat[m.Length..].TrimStart();
        }
        else
        {
            enhanced = (code / 100) switch { 2 => "2.0.0", 4 => "4.0.0", _ => "5.0.0" };
        }
        // Postfix keeps line_length_limit (2048) characters of a reply; the rest would only bloat the log and the DSN.
        if (flat.Length > MaxReplyText) flat = flat[..MaxReplyText] + "...";
        return new RemoteReply(code, enhanced, flat, host, address);
    }

    /// <summary>No server reply: connection refused, timeout, TLS failure, garbage. Always temporary.</summary>
    public static RemoteReply Local(string enhanced, string text, string? host = null, string? address = null) => new(0, enhanced, text, host, address);

    public static bool IsPermanent(this RemoteReply r) => r.Code is >= 500 and < 600 || (r.Code == 0 && r.EnhancedCode.StartsWith('5'));

    public static bool IsSuccess(this RemoteReply r) => r.Code is >= 200 and < 300;

    /// <summary>A server's 2xx (RFC 5321 4.2.1: the requested action was taken); 354 and every 4xx and 5xx are not.</summary>
    public static bool IsPositive(this MailKit.Net.Smtp.SmtpResponse r) => (int)r.StatusCode is >= 200 and < 300;

    /// <summary>"250 2.0.0 Ok: queued as X" as Postfix's log and DSNs show it.</summary>
    public static string Describe(this RemoteReply r) =>
        r.Code == 0 ? r.Text : $"{r.Code} {r.EnhancedCode} {r.Text}";
}
