using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Listening;

/// <summary>
/// The <see cref="ListenerHost{TListener}"/> of the mail-reading gateways (IMAP, POP3, ManageSieve), whose one limit is
/// the number of sessions: past <paramref name="maxConnections"/> a plaintext listener sends <paramref name="refusal"/>
/// and closes, an implicit-TLS one just closes. At shutdown each session gets 10 s to say its goodbye.
/// </summary>
/// <param name="protocol">"IMAP", "POP3", "ManageSieve": for errors and logs.</param>
/// <param name="section">"Imap", "Pop3", "ManageSieve": the settings section errors name.</param>
public sealed class GatewayHost(string protocol, string section, IReadOnlyList<ListenerOptions> listeners, ClientNetworks proxyNetworks, TimeSpan proxyTimeout,
    int maxConnections, string refusal, ILogger logger) : IDisposable
{
    private readonly ListenerHost<ListenerOptions> _host = new(protocol, section, listeners, proxyNetworks, proxyTimeout, TimeSpan.FromSeconds(10), logger);

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _host.BoundEndpoints;

    /// <summary>Binds every listener, then starts accepting; <paramref name="createSession"/> makes the session of a
    /// connection from its socket, its client (the one a PROXY header names, else the peer) and its listener.</summary>
    public void Start(Func<Socket, IPEndPoint, ListenerOptions, IListenerSession> createSession) =>
        _host.Start(new MaxConnections(maxConnections, Encoding.ASCII.GetBytes(refusal + "\r\n"), createSession));

    /// <summary>Stops accepting, cancels every session's token (each says its goodbye) and waits up to 10 s for them.</summary>
    public Task StopAsync(CancellationToken ct = default) => _host.StopAsync(ct);

    public void Dispose() => _host.Dispose();

    private sealed class MaxConnections(int max, byte[] refusal, Func<Socket, IPEndPoint, ListenerOptions, IListenerSession> createSession) : IConnectionHandler<ListenerOptions>
    {
        public IListenerSession? Admit(Socket socket, IPEndPoint client, IPEndPoint local, ListenerOptions listener, int open, bool stopping)
        {
            if (open < max) return createSession(socket, client, listener);
            _ = ListenerHost.RefuseAsync(socket, listener.ImplicitTls ? null : refusal);
            return null;
        }
    }
}
