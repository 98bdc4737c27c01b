using System.Text;
using System.Text.RegularExpressions;

namespace Mail.Spf;

/// <summary>The Received-SPF trace header of RFC 7208 section 9.1.</summary>
public static partial class ReceivedSpfHeader
{
    public const string Name = "Received-SPF";

    /// <summary>
    /// The header value (without "Received-SPF:" and on one line; fold it when writing): the result, a comment in
    /// words, then key-value pairs receiver, client-ip, envelope-from, helo, identity, and mechanism or problem.
    /// For example: <c>pass (mx.example.org: domain of a@example.com designates 192.0.2.1 as permitted sender)
    /// receiver=mx.example.org; client-ip=192.0.2.1; envelope-from="a@example.com"; helo=mail.example.com;
    /// identity=mailfrom; mechanism="ip4:192.0.2.0/24"</c>.
    /// </summary>
    /// <param name="receiver">Our host name (the authserv-id / receiving MTA name).</param>
    public static string Format(SpfResult result, string receiver)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentException.ThrowIfNullOrWhiteSpace(receiver);
        var ip = result.ClientIp?.ToString() ?? "unknown";
        var who = result.Identity == SpfIdentity.Helo ? $"{result.Helo} (HELO)" : result.Sender;
        var comment = result.Code switch
        {
            SpfResultCode.Pass => $"{receiver}: domain of {who} designates {ip} as permitted sender",
            SpfResultCode.Fail => $"{receiver}: domain of {who} does not designate {ip} as permitted sender",
            SpfResultCode.SoftFail => $"{receiver}: domain of transitioning {who} does not designate {ip} as permitted sender",
            SpfResultCode.Neutral => $"{receiver}: {ip} is neither permitted nor denied by domain of {who}",
            SpfResultCode.None => $"{receiver}: domain of {who} does not designate permitted sender hosts",
            SpfResultCode.TempError => $"{receiver}: temporary error in processing during lookup of {who}",
            SpfResultCode.PermError => $"{receiver}: permanent error in processing domain of {who}",
            _ => throw new ArgumentOutOfRangeException(nameof(result), result.Code, null),
        };

        var sb = new StringBuilder(result.ResultName).Append(" (").Append(CommentText(comment)).Append(')');
        Pair(sb, "receiver", receiver);
        Pair(sb, "client-ip", ip);
        Pair(sb, "envelope-from", result.Sender);
        Pair(sb, "helo", result.Helo);
        Pair(sb, "identity", result.Identity == SpfIdentity.Helo ? "helo" : "mailfrom");
        if (result.Code is SpfResultCode.TempError or SpfResultCode.PermError)
        {
            if (!string.IsNullOrEmpty(result.Problem)) Pair(sb, "problem", result.Problem);
        }
        else if (result.Code != SpfResultCode.None)
        {
            Pair(sb, "mechanism", string.IsNullOrEmpty(result.Mechanism) ? "default" : result.Mechanism);
        }
        return sb.ToString();
    }

    private static void Pair(StringBuilder sb, string key, string value)
    {
        sb.Append(sb[^1] == ')' ? " " : "; ").Append(key).Append('=');
        if (DotAtomRegex().IsMatch(value))
        {
            sb.Append(value);
            return;
        }
        sb.Append('"');
        foreach (var c in value)
        {
            if (c is '"' or '\\') sb.Append('\\');
            sb.Append(c is '\r' or '\n' ? ' ' : c);
        }
        sb.Append('"');
    }

    // Inside a comment, parentheses and backslashes are quoted-pairs; line breaks would end the header.
    private static string CommentText(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is '(' or ')' or '\\') sb.Append('\\');
            sb.Append(c is '\r' or '\n' ? ' ' : c);
        }
        return sb.ToString();
    }

    // RFC 5322 dot-atom-text.
    [GeneratedRegex(@"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex DotAtomRegex();
}
