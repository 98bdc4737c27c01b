using System.Net.Sockets;

namespace Mail.Core.Listening;

/// <summary>A listener's socket cannot be bound (the port is in use, the address is not on this machine, a privileged
/// port): the SMTP and IMAP servers throw it naming the endpoint setting, so `mail` can say which one to change.</summary>
public sealed class ListenerBindException(string listener, string endpoint, string setting, SocketException inner)
    : InvalidOperationException($"{setting} {endpoint} cannot be bound: {inner.Message}", inner)
{
    /// <summary>What could not listen, e.g. "SMTP listener mx".</summary>
    public string Listener { get; } = listener;
    public string Endpoint { get; } = endpoint;
    /// <summary>The setting that chose the endpoint, e.g. "Smtp:Listeners:0:Endpoint".</summary>
    public string Setting { get; } = setting;
    public SocketError Error { get; } = inner.SocketErrorCode;
}
