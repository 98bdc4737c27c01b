using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Listening;

/// <summary>One connection of a mail-reading gateway (IMAP, POP3), run to its end by <see cref="GatewayHost"/>.</summary>
public interface IGatewaySession : IAsyncDisposable
{
    /// <summary>Runs the dialogue; <paramref name="stopping"/> fires at shutdown (the session says goodbye itself).</summary>
    Task RunAsync(CancellationToken stopping);
}

/// <summary>A listener as the gateways configure it: Listeners:N:Name, Endpoint, ImplicitTls, ProxyProtocol.</summary>
public sealed record GatewayListener(string Name, string Endpoint, bool ImplicitTls, bool ProxyProtocol);

/// <summary>
/// The listeners and sessions of the IMAP and POP3 gateways: binds every listener (a port that cannot be bound names
/// its setting), accepts through <see cref="ConnectionListener"/>, refuses past the connection limit, runs one
/// <see cref="IGatewaySession"/> per connection and, at shutdown, stops accepting and waits for the sessions to end.
/// </summary>
/// <param name="protocol">"IMAP" or "POP3": for errors and logs.</param>
/// <param name="section">"Imap" or "Pop3": the settings section errors name.</param>
/// <param name="refusal">The line sent on a plaintext listener to a connection over <paramref name="maxConnections"/>;
/// an implicit-TLS listener just closes it (plaintext there would only confuse the client's TLS stack).</param>
public sealed class GatewayHost(string protocol, string section, IReadOnlyList<GatewayListener> listeners, ClientNetworks proxyNetworks, TimeSpan proxyTimeout,
    int maxConnections, string refusal, ILogger logger) : IDisposable
{
    private readonly Dictionary<string, IPEndPoint> _bound = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<ConnectionListener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<IGatewaySession, Task> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _bound;

    /// <summary>Binds every listener, then starts accepting; <paramref name="createSession"/> makes the session of a
    /// connection from its socket, its client (the one a PROXY header names, else the peer) and its listener.</summary>
    public void Start(Func<Socket, IPEndPoint, GatewayListener, IGatewaySession> createSession)
    {
        try
        {
            for (var i = 0; i < listeners.Count; i++)
            {
                var l = listeners[i];
                var listener = ConnectionListener.Bind(IPEndPoint.Parse(l.Endpoint), $"{protocol} listener {l.Name}", $"{section}:Listeners:{i}:Endpoint");
                _listeners.Add(listener);
                _bound[l.Name] = listener.LocalEndpoint;
                logger.LogInformation("{Protocol} listener {Name} on {Endpoint} (implicit TLS: {Tls}, PROXY protocol: {Proxy})", protocol, l.Name, listener.LocalEndpoint, l.ImplicitTls, l.ProxyProtocol);
            }
        }
        catch
        {
            foreach (var started in _listeners) started.Dispose();
            _listeners.Clear();
            throw;
        }
        for (var i = 0; i < listeners.Count; i++)
        {
            var l = listeners[i];
            var proxy = l.ProxyProtocol ? new ProxyAdmission(proxyNetworks, proxyTimeout, $"{section}:Listeners:{i}:ProxyProtocol, {section}:ProxyNetworks") : null;
            _acceptLoops.Add(_listeners[i].RunAsync(proxy, (socket, client, _) => Admit(socket, client, l, createSession), logger, _stopping.Token));
        }
    }

    private void Admit(Socket socket, IPEndPoint client, GatewayListener listener, Func<Socket, IPEndPoint, GatewayListener, IGatewaySession> createSession)
    {
        if (_sessions.Count >= maxConnections)
        {
            _ = RefuseAsync(socket, listener.ImplicitTls);
            return;
        }
        var session = createSession(socket, client, listener);
        // Registered before it runs, so a session that ends at once is still removed (and counted) correctly.
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sessions[session] = RunSessionAsync(session, registered.Task);
        registered.SetResult();
    }

    private async Task RunSessionAsync(IGatewaySession session, Task registered)
    {
        await registered;
        try
        {
            await session.RunAsync(_stopping.Token);
        }
        catch (Exception e)
        {
            logger.LogDebug(e, "{Protocol} session ended with an error", protocol);
        }
        finally
        {
            _sessions.TryRemove(session, out _);
            await session.DisposeAsync();
        }
    }

    private async Task RefuseAsync(Socket socket, bool implicitTls)
    {
        try
        {
            if (!implicitTls)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.SendAsync(Encoding.ASCII.GetBytes(refusal + "\r\n"), SocketFlags.None, timeout.Token);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    /// <summary>Stops accepting, cancels every session's token (each says its goodbye) and waits up to 10 s for them.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync();
        foreach (var listener in _listeners) listener.Dispose();
        try
        {
            await Task.WhenAll(_acceptLoops).WaitAsync(ct);
            await Task.WhenAll(_sessions.Values.ToArray()).WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("{Protocol} sessions did not end within 10 s of shutdown", protocol);
        }
    }

    public void Dispose() => _stopping.Dispose();
}
