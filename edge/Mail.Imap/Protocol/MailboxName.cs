using System.Text;

namespace Mail.Imap.Protocol;

/// <summary>
/// Mailbox names on the wire: modified UTF-7 (RFC 3501 5.1.3) for IMAP4rev1 clients, UTF-8 once a client
/// enables IMAP4rev2 or UTF8=ACCEPT. The store keeps UTF-8 names.
/// </summary>
/// <summary>A well-formed argument that cannot name a mailbox: a NO (no such mailbox can exist), not a BAD.</summary>
internal sealed class InvalidMailboxNameException(string message) : Exception(message);

internal static class MailboxName
{
    public static string Decode(string wire, bool utf8)
    {
        if (utf8 || !wire.Contains('&')) return Normalize(wire);
        var sb = new StringBuilder();
        for (var i = 0; i < wire.Length; i++)
        {
            var c = wire[i];
            if (c != '&') { sb.Append(c); continue; }
            var end = wire.IndexOf('-', i + 1);
            if (end < 0) throw new InvalidMailboxNameException($"Bad modified UTF-7 in mailbox name \"{wire}\"");
            if (end == i + 1) sb.Append('&');
            else
            {
                var b64 = wire[(i + 1)..end].Replace(',', '/');
                b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
                try
                {
                    sb.Append(Encoding.BigEndianUnicode.GetString(Convert.FromBase64String(b64)));
                }
                catch (FormatException)
                {
                    throw new InvalidMailboxNameException($"Bad modified UTF-7 in mailbox name \"{wire}\"");
                }
            }
            i = end;
        }
        return Normalize(sb.ToString());
    }

    public static string Encode(string name, bool utf8)
    {
        if (utf8) return name;
        var sb = new StringBuilder();
        var i = 0;
        while (i < name.Length)
        {
            var c = name[i];
            if (c >= 0x20 && c <= 0x7e)
            {
                sb.Append(c == '&' ? "&-" : c.ToString());
                i++;
                continue;
            }
            var start = i;
            while (i < name.Length && (name[i] < 0x20 || name[i] > 0x7e)) i++;
            var b64 = Convert.ToBase64String(Encoding.BigEndianUnicode.GetBytes(name[start..i])).TrimEnd('=').Replace('/', ',');
            sb.Append('&').Append(b64).Append('-');
        }
        return sb.ToString();
    }

    /// <summary>"inbox" and "Inbox/x" name the one INBOX (RFC 9051 5.1).</summary>
    public static string Normalize(string name)
    {
        if (name.Equals("INBOX", StringComparison.OrdinalIgnoreCase)) return "INBOX";
        if (name.Length > 6 && name.StartsWith("INBOX/", StringComparison.OrdinalIgnoreCase)) return "INBOX" + name[5..];
        return name;
    }
}
