using System.Globalization;
using System.Text;
using Mail.Core.Model;

namespace Mail.Smtp.Session;

/// <summary>
/// The trace header the edge prepends (RFC 5321 4.4): who sent it (HELO name, then the address we saw),
/// the TLS in use as a comment, who received it, the with-protocol (RFC 3848), our queue id, the recipient
/// when there is only one (more would leak Bcc recipients to each other), and the date.
/// </summary>
internal static class ReceivedHeader
{
    public static string Format(string hostName, ClientInfo client, string queueId, IReadOnlyList<Recipient> recipients, DateTimeOffset date)
    {
        var sb = new StringBuilder(256);
        sb.Append("Received: from ").Append(Sanitize(client.Helo)).Append(" (");
        if (client.ReverseName is not null) sb.Append(client.ReverseName).Append(' ');
        sb.Append('[').Append(client.Address).Append("])\r\n");
        if (client.Tls is { } tls)
        {
            sb.Append("\t(using ").Append(tls.Protocol).Append(" with cipher ").Append(tls.Cipher);
            if (tls.CipherBits is { } bits) sb.Append(" (").Append(bits).Append(" bits)");
            sb.Append(")\r\n");
        }
        sb.Append("\tby ").Append(hostName).Append(" with ").Append(client.Protocol).Append(" id ").Append(queueId);
        if (recipients.Count == 1) sb.Append("\r\n\tfor <").Append(recipients[0].Address).Append('>');
        sb.Append("; ").Append(date.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture)).Append("\r\n");
        return sb.ToString();
    }

    /// <summary>The HELO name is client-supplied: keep it on one line and out of our comment syntax.</summary>
    private static string Sanitize(string helo)
    {
        if (helo.Length == 0) return "unknown";
        var ok = helo.All(c => c > ' ' && c != '(' && c != ')' && c != ';' && c != 0x7f);
        return ok ? helo : new string(helo.Select(c => c > ' ' && c != '(' && c != ')' && c != ';' && c != 0x7f ? c : '_').ToArray());
    }
}
