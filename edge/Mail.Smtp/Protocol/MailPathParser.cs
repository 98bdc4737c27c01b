using Mail.Core.Model;

namespace Mail.Smtp.Protocol;

/// <summary>One "keyword[=value]" ESMTP parameter of MAIL or RCPT.</summary>
internal readonly record struct EsmtpParameter(string Keyword, string? Value);

/// <summary>
/// Parses the argument of MAIL FROM / RCPT TO: "&lt;path&gt; [SP params]" (RFC 5321 4.1.2).
/// Quoted local parts may contain '&gt;', '@' and spaces, so the path end is found with quoting in mind.
/// </summary>
internal static class MailPathParser
{
    /// <summary>
    /// <paramref name="argument"/> is what follows the verb, e.g. "FROM:&lt;a@b&gt; SIZE=10".
    /// Returns null on success, else the reason for a 501 reply.
    /// </summary>
    public static string? TryParse(string argument, string prefix, out string path, out List<EsmtpParameter> parameters)
    {
        path = "";
        parameters = [];
        if (!argument.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) return $"Syntax: {(prefix == "FROM:" ? "MAIL FROM:<address>" : "RCPT TO:<address>")}";
        var i = prefix.Length;
        while (i < argument.Length && argument[i] == ' ') i++; // tolerated although RFC 5321 has no space here
        if (i >= argument.Length || argument[i] != '<') return "Address must be in angle brackets";
        var start = ++i;
        var quoted = false;
        for (; i < argument.Length; i++)
        {
            var c = argument[i];
            if (c == '\\' && quoted) i++;
            else if (c == '"') quoted = !quoted;
            else if (c == '>' && !quoted) break;
        }
        if (i >= argument.Length) return "Missing '>' after the address";
        path = argument[start..i];
        var rest = argument.AsSpan(i + 1);
        if (rest.Length > 0 && rest[0] != ' ') return "Expected a space after '>'";
        foreach (var range in rest.Split(' '))
        {
            var token = rest[range];
            if (token.Length == 0) continue;
            var eq = token.IndexOf('=');
            var keyword = (eq < 0 ? token : token[..eq]).ToString();
            if (keyword.Length == 0 || !keyword.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') || !char.IsAsciiLetterOrDigit(keyword[0]))
                return $"Bad parameter keyword '{keyword}'";
            string? value = null;
            if (eq >= 0)
            {
                value = token[(eq + 1)..].ToString();
                // esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 under SMTPUTF8 (RFC 6531)
                if (value.Length == 0 || value.Any(c => c < '!' || c == '=' || c == 0x7f)) return $"Bad value for parameter {keyword}";
            }
            if (parameters.Exists(p => p.Keyword.Equals(keyword, StringComparison.OrdinalIgnoreCase)))
                return $"Duplicate parameter {keyword}";
            parameters.Add(new EsmtpParameter(keyword.ToUpperInvariant(), value));
        }
        return null;
    }

    /// <summary>
    /// Checks a mailbox (route already allowed) and returns its normalised form: local part as given,
    /// domain lower-cased without the trailing dot. Null when it is not a valid RFC 5321 (or RFC 6531) mailbox.
    /// </summary>
    public static Address? ParseMailbox(string path, bool allowUtf8)
    {
        if (path.Length > 320 + 256) return null;
        if (!allowUtf8 && path.Any(c => c > '~')) return null;
        if (path.Any(c => c < ' ' || c == 0x7f)) return null;
        if (!Address.TryParse(path, out var address)) return null;
        if (!IsLocalPart(address.LocalPart, allowUtf8)) return null;
        if (!IsDomain(address.Domain)) return null;
        return address;
    }

    private static bool IsLocalPart(string local, bool allowUtf8)
    {
        if (local.Length is 0 or > 64 * 4) return false;
        if (local[0] == '"')
        {
            if (local.Length < 2 || local[^1] != '"') return false;
            for (var i = 1; i < local.Length - 1; i++)
            {
                var c = local[i];
                if (c == '\\') { i++; if (i >= local.Length - 1) return false; continue; }
                if (c == '"') return false;
            }
            return true;
        }
        // Dot-string: atoms separated by single dots.
        if (local[0] == '.' || local[^1] == '.' || local.Contains("..", StringComparison.Ordinal)) return false;
        foreach (var c in local)
        {
            if (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~.".Contains(c)) continue;
            if (c > '~' && allowUtf8) continue;
            return false;
        }
        return true;
    }

    private static bool IsDomain(string domain)
    {
        if (domain[0] == '[') return domain.Length > 2 && domain[^1] == ']';
        foreach (var label in domain.Split('.'))
        {
            if (label.Length is 0 or > 63) return false;
            if (label[0] == '-' || label[^1] == '-') return false;
            if (!label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')) return false;
        }
        return true;
    }
}
