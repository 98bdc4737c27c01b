using System.Net;

namespace Mail.Core.Listening;

/// <summary>
/// One listening socket as every protocol configures it ("Smtp:Listeners:N", "Imap:Listeners:N", "Pop3:Listeners:N",
/// "ManageSieve:Listeners:N"): its name, endpoint, implicit TLS and PROXY protocol. A protocol derives from it for its
/// own defaults and settings (SMTP's role and pregreet test).
/// </summary>
public class ListenerOptions
{
    public ListenerOptions()
    {
    }

    /// <summary>A protocol's listener with its default <paramref name="name"/> and <paramref name="endpoint"/>.</summary>
    protected ListenerOptions(string name, string endpoint)
    {
        Name = name;
        Endpoint = endpoint;
    }

    /// <summary>Name used in logs, in the servers' BoundEndpoints and (SMTP) in the envelope.</summary>
    public string Name { get; set; } = "";

    /// <summary>"address:port", e.g. "127.0.0.1:2143" or "[::1]:2993"; port 0 lets the OS choose.</summary>
    public string Endpoint { get; set; } = "";

    /// <summary>TLS from the first byte (RFC 8314: ports 465, 993, 995) instead of STARTTLS / STLS.</summary>
    public bool ImplicitTls { get; set; }

    /// <summary>Connections start with a PROXY protocol header (HAProxy's v1 text or v2 binary) from a proxy in the
    /// section's ProxyNetworks; the client it names is the client for every check and log line (Postfix
    /// smtpd_upstream_proxy_protocol = haproxy, Dovecot haproxy = yes). A connection without a valid header is closed.</summary>
    public bool ProxyProtocol { get; set; }

    /// <summary>"address:port" with an explicit port ("1.2.3.4" alone, which <see cref="IPEndPoint.TryParse(string, out IPEndPoint?)"/>
    /// takes as port 0, is refused: port 0 is asked for by writing it).</summary>
    public static bool TryParseEndpoint(string? text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var colon = text.LastIndexOf(':');
        if (colon < 0 || colon == text.Length - 1 || (text[0] == '[' && text[colon - 1] != ']')) return false;
        if (!IPEndPoint.TryParse(text, out var ep)) return false;
        endpoint = ep;
        return true;
    }

    /// <summary>
    /// Every problem with a section's listeners and PROXY protocol settings, each naming its configuration key, in the
    /// order the settings are read. The same words for every protocol.
    /// </summary>
    /// <param name="section">"Smtp", "Imap", "Pop3", "ManageSieve".</param>
    /// <param name="whenNone">Appended to the "at least one listener" error, e.g. how to turn the protocol off.</param>
    /// <param name="noImplicitTls">Set when the protocol has no implicit-TLS port (ManageSieve, RFC 5804): the reason
    /// an ImplicitTls listener is refused.</param>
    public static List<string> Problems(string section, IReadOnlyList<ListenerOptions>? listeners, bool hasCertificate,
        IReadOnlyList<string>? proxyNetworks, TimeSpan proxyTimeout, string? whenNone = null, string? noImplicitTls = null)
    {
        var errors = new List<string>();
        if (listeners is null || listeners.Count == 0) errors.Add($"{section}:Listeners must name at least one listener{(whenNone is null ? "" : " " + whenNone)}.");
        if (proxyNetworks is not null)
            for (var i = 0; i < proxyNetworks.Count; i++)
                if (!ClientNetworks.TryParse(proxyNetworks[i], out _))
                    errors.Add($"{section}:ProxyNetworks:{i} '{proxyNetworks[i]}' is not an address or CIDR (e.g. 10.0.0.5, 10.0.0.0/24).");
        if (proxyTimeout <= TimeSpan.Zero || proxyTimeout > TimeSpan.FromMinutes(1)) errors.Add($"{section}:ProxyTimeout must be between 0 and 1 minute.");
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < (listeners?.Count ?? 0); i++)
        {
            var l = listeners![i];
            var key = $"{section}:Listeners:{i}";
            if (string.IsNullOrWhiteSpace(l.Name)) errors.Add($"{key}:Name must not be empty.");
            else if (!names.Add(l.Name)) errors.Add($"{key}:Name '{l.Name}' is used by another listener.");
            if (!TryParseEndpoint(l.Endpoint, out _))
                errors.Add($"{key}:Endpoint '{l.Endpoint}' is not an address:port (e.g. 127.0.0.1:2143 or [::1]:2143; port 0 lets the OS choose).");
            if (l.ImplicitTls && noImplicitTls is not null) errors.Add($"{key}:ImplicitTls is not available: {noImplicitTls}.");
            else if (l.ImplicitTls && !hasCertificate) errors.Add($"{key}:ImplicitTls needs {section}:Certificate (none configured).");
            if (l.ProxyProtocol && (proxyNetworks is null || proxyNetworks.Count == 0))
                errors.Add($"{key}:ProxyProtocol needs {section}:ProxyNetworks (the addresses of the proxies whose header is believed).");
        }
        return errors;
    }
}
