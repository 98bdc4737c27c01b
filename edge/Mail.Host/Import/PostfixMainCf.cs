using System.Text;

namespace Mail.Host.Import;

/// <summary>
/// A Postfix main.cf as postconf(5) reads it: <c>name = value</c> logical lines; a line that starts with whitespace
/// continues the previous one; empty lines and lines whose first non-blank character is '#' are ignored (and do not
/// end a logical line). Values are expanded when read: <c>$name</c>, <c>${name}</c>, <c>$(name)</c>,
/// <c>${name?text}</c> (text when name is non-empty), <c>${name:text}</c> (text when it is empty), <c>$$</c>.
/// A parameter the file does not set has the default of <c>postconf -d</c> (Postfix 3.7) where it matters here.
/// </summary>
public sealed class PostfixMainCf
{
    private readonly Dictionary<string, string> _raw;
    private readonly Dictionary<string, string> _defaults;

    private PostfixMainCf(Dictionary<string, string> raw, IReadOnlyList<string> order, Dictionary<string, string> defaults)
    {
        _raw = raw;
        Names = order;
        _defaults = defaults;
    }

    /// <summary>The parameters the file sets, in the order of their first appearance.</summary>
    public IReadOnlyList<string> Names { get; }

    public bool IsSet(string name) => _raw.ContainsKey(name);

    /// <summary>The value as written, before expansion.</summary>
    public string? Raw(string name) => _raw.GetValueOrDefault(name);

    /// <summary>The expanded value: the file's, else Postfix's default, else "".</summary>
    public string this[string name] => Expand(name, []);

    /// <summary>Postfix's list syntax: separated by commas and/or whitespace.</summary>
    public IReadOnlyList<string> List(string name) =>
        this[name].Split([',', ' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static PostfixMainCf Parse(string text, string? hostName = null)
    {
        var raw = new Dictionary<string, string>(StringComparer.Ordinal);
        var order = new List<string>();
        string? name = null;
        var value = new StringBuilder();
        var lineNo = 0;
        void End()
        {
            if (name is null) return;
            if (!raw.ContainsKey(name)) order.Add(name);
            raw[name] = value.ToString().Trim();
            name = null;
        }
        foreach (var line in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            lineNo++;
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#') continue;
            if (char.IsWhiteSpace(line[0]))
            {
                if (name is null) throw new FormatException($"main.cf line {lineNo}: a continuation line with nothing to continue");
                value.Append(' ').Append(trimmed);
                continue;
            }
            End();
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new FormatException($"main.cf line {lineNo}: '{trimmed}' is not 'name = value'");
            name = line[..eq].Trim();
            value.Clear().Append(line[(eq + 1)..].Trim());
        }
        End();
        return new PostfixMainCf(raw, order, Defaults(hostName ?? System.Net.Dns.GetHostName()));
    }

    /// <summary>`postconf -d` values of Postfix 3.7 (compatibility_level 3.6 and later) for the parameters the import reads.</summary>
    private static Dictionary<string, string> Defaults(string host) => new(StringComparer.Ordinal)
    {
        ["myhostname"] = host,
        ["mydomain"] = host.Contains('.', StringComparison.Ordinal) ? host[(host.IndexOf('.', StringComparison.Ordinal) + 1)..] : "localdomain",
        ["myorigin"] = "$myhostname",
        ["mydestination"] = "$myhostname, localhost.$mydomain, localhost",
        ["mynetworks_style"] = "host",
        ["relay_domains"] = "",
        ["recipient_delimiter"] = "",
        ["message_size_limit"] = "10240000",
        ["smtpd_recipient_limit"] = "1000",
        ["smtpd_delay_reject"] = "yes",
        ["unknown_client_reject_code"] = "450",
        ["unknown_address_reject_code"] = "450",
        ["smtpd_relay_restrictions"] = "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
        ["postscreen_dnsbl_threshold"] = "1",
        ["smtpd_tls_cert_file"] = "",
        ["smtpd_tls_key_file"] = "$smtpd_tls_cert_file",
    };

    private string Expand(string name, HashSet<string> path)
    {
        if (!path.Add(name)) throw new FormatException($"main.cf: ${name} refers to itself");
        var value = _raw.TryGetValue(name, out var v) ? v : _defaults.GetValueOrDefault(name, "");
        var result = ExpandText(value, path);
        path.Remove(name);
        return result;
    }

    private string ExpandText(string value, HashSet<string> path)
    {
        if (!value.Contains('$', StringComparison.Ordinal)) return value;
        var sb = new StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c != '$' || i + 1 >= value.Length)
            {
                sb.Append(c);
                continue;
            }
            var next = value[i + 1];
            if (next == '$')
            {
                sb.Append('$');
                i++;
                continue;
            }
            if (next is '{' or '(')
            {
                var close = next == '{' ? '}' : ')';
                var end = MatchingClose(value, i + 1, next, close);
                if (end < 0)
                {
                    sb.Append(value[i..]);
                    break;
                }
                var inner = value[(i + 2)..end];
                var op = inner.IndexOfAny(['?', ':']);
                if (op > 0)
                {
                    var isSet = Expand(inner[..op], path).Length > 0;
                    if (isSet == (inner[op] == '?')) sb.Append(ExpandText(inner[(op + 1)..], path));
                }
                else
                {
                    sb.Append(Expand(inner, path));
                }
                i = end;
                continue;
            }
            var j = i + 1;
            while (j < value.Length && (char.IsAsciiLetterOrDigit(value[j]) || value[j] == '_')) j++;
            if (j == i + 1)
            {
                sb.Append(c);
                continue;
            }
            sb.Append(Expand(value[(i + 1)..j], path));
            i = j - 1;
        }
        return sb.ToString();
    }

    private static int MatchingClose(string value, int open, char o, char c)
    {
        var depth = 0;
        for (var k = open; k < value.Length; k++)
        {
            if (value[k] == o) depth++;
            else if (value[k] == c && --depth == 0) return k;
        }
        return -1;
    }
}
