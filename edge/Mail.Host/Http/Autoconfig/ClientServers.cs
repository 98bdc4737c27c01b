using System.Globalization;
using System.Net;
using Mail.Core.SmtpPolicy;
using Mail.Smtp;

namespace Mail.Host.Http.Autoconfig;

/// <summary>How a mail client reaches one of our listeners: implicit TLS ("SSL" in Thunderbird's words) or STARTTLS.</summary>
public enum ClientSocket
{
    Ssl,
    StartTls,
}

/// <summary>One server a mail client is told about: protocol ("imap", "pop3", "smtp"), host name, port, TLS.</summary>
public sealed record ClientServer(string Protocol, string HostName, int Port, ClientSocket Socket);

/// <summary>
/// What autoconfiguration tells clients, from the settings `mail serve` listens with: the IMAP and POP3 listeners
/// (host name Imap:HostName) and the SMTP listeners with Role Submission (host name Smtp:HostName), never the MX
/// listener. Implicit-TLS listeners come first, as RFC 8314 prefers them. The port is the listener's own, so behind
/// port mapping (docker -p 993:2993) the listeners should be on the ports clients see.
/// </summary>
public sealed record ClientServers(IReadOnlyList<ClientServer> Incoming, IReadOnlyList<ClientServer> Outgoing)
{
    public static ClientServers From(ServeSettings settings)
    {
        var incoming = new List<ClientServer>();
        if (settings.ImapEnabled)
            foreach (var l in settings.Imap.Listeners)
                incoming.Add(new("imap", settings.Imap.HostName, PortOf(l.Endpoint), l.ImplicitTls ? ClientSocket.Ssl : ClientSocket.StartTls));
        if (settings.Pop3Enabled)
            foreach (var l in settings.Pop3.Listeners)
                incoming.Add(new("pop3", settings.Imap.HostName, PortOf(l.Endpoint), l.ImplicitTls ? ClientSocket.Ssl : ClientSocket.StartTls));
        var outgoing = settings.Smtp.Listeners.Where(l => l.Role == SmtpListenerRole.Submission)
            .Select(l => new ClientServer("smtp", settings.Smtp.HostName, PortOf(l.Endpoint), l.ImplicitTls ? ClientSocket.Ssl : ClientSocket.StartTls));
        // IMAP before POP3, implicit TLS before STARTTLS: clients offer the first one they can reach.
        return new(
            [.. incoming.OrderBy(s => s.Protocol == "imap" ? 0 : 1).ThenBy(s => s.Socket == ClientSocket.Ssl ? 0 : 1)],
            [.. outgoing.OrderBy(s => s.Socket == ClientSocket.Ssl ? 0 : 1)]);
    }

    private static int PortOf(string endpoint) =>
        IPEndPoint.TryParse(endpoint, out var ep) ? ep.Port : int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
}
