using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Listening;

/// <summary>Where a PROXY protocol listener's header is believed from, and the settings to name when it is refused.</summary>
/// <param name="Settings">e.g. "Imap:Listeners:0:ProxyProtocol, Imap:ProxyNetworks": what a refused connection's log line names.</param>
public sealed record ProxyAdmission(ClientNetworks Networks, TimeSpan Timeout, string Settings);

/// <summary>
/// One bound listening socket and its accept loop, under the IMAP and POP3 servers alike: accept, look at the peer,
/// read the PROXY protocol header when the listener has it (on the connection's own task, so a slow or silent proxy
/// never holds up the accepts), then hand the socket with its client and local endpoints to the server's admit step.
/// </summary>
public sealed class ConnectionListener : IDisposable
{
    private readonly Socket _socket;
    private readonly string _description;

    private ConnectionListener(Socket socket, string description)
    {
        _socket = socket;
        _description = description;
    }

    /// <summary>The endpoint actually bound (port 0 resolved).</summary>
    public IPEndPoint LocalEndpoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Binds and listens; a socket that cannot bind throws <see cref="ListenerBindException"/> naming
    /// <paramref name="setting"/>.</summary>
    /// <param name="description">What listens, for errors and logs, e.g. "POP3 listener pop3".</param>
    public static ConnectionListener Bind(IPEndPoint endpoint, string description, string setting)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ListenerBindException(description, endpoint.ToString(), setting, e);
        }
        return new ConnectionListener(socket, description);
    }

    /// <summary>Accepts until <paramref name="stopping"/> fires or the listener is disposed. <paramref name="admit"/>
    /// gets the socket, the client (the one a PROXY header names, else the peer; an IPv4-mapped IPv6 address as plain
    /// IPv4) and the local endpoint.</summary>
    public async Task RunAsync(ProxyAdmission? proxy, Action<Socket, IPEndPoint, IPEndPoint> admit, ILogger logger, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _socket.AcceptAsync(stopping);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || (stopping.IsCancellationRequested && e is SocketException))
            {
                return;
            }
            catch (SocketException e)
            {
                // e.g. out of file descriptors: back off instead of spinning.
                logger.LogWarning(e, "{Listener}: accept failed", _description);
                await Task.Delay(100, CancellationToken.None);
                continue;
            }
            IPEndPoint client, local;
            try
            {
                socket.NoDelay = true;
                client = (IPEndPoint)socket.RemoteEndPoint!;
                local = (IPEndPoint)socket.LocalEndPoint!;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The client left before we could look at it.
                socket.Dispose();
                continue;
            }
            if (proxy is not null) _ = AdmitProxiedAsync(socket, client, proxy, admit, logger, stopping);
            else admit(socket, client.Unmapped(), local);
        }
    }

    /// <summary>The client is the one the header names, for the login throttle, the plaintext-on-loopback rule and
    /// the logs (Dovecot haproxy = yes, Postfix smtpd_upstream_proxy_protocol = haproxy).</summary>
    private async Task AdmitProxiedAsync(Socket socket, IPEndPoint peer, ProxyAdmission proxy, Action<Socket, IPEndPoint, IPEndPoint> admit, ILogger logger, CancellationToken stopping)
    {
        IPEndPoint client, local;
        try
        {
            (client, local) = await ProxyProtocolReader.AcceptAsync(socket, proxy.Networks, proxy.Timeout, stopping);
        }
        catch (Exception e) when (e is ProxyProtocolException or OperationCanceledException)
        {
            if (e is ProxyProtocolException)
                logger.LogWarning("{Listener}: connection from {Proxy} closed: {Reason} ({Settings})", _description, peer, e.Message, proxy.Settings);
            socket.Dispose();
            return;
        }
        admit(socket, client.Unmapped(), local);
    }


    public void Dispose() => _socket.Dispose();
}
