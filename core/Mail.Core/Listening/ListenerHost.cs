using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Listening;

/// <summary>One connection of any protocol (SMTP, IMAP, POP3, ManageSieve), run to its end by <see cref="ListenerHost{TListener}"/>.</summary>
public interface IListenerSession : IAsyncDisposable
{
    /// <summary>Runs the dialogue; <paramref name="stopping"/> fires at shutdown (the session says goodbye itself).</summary>
    Task RunAsync(CancellationToken stopping);

    /// <summary>Called at shutdown, after <paramref name="stopping"/> of <see cref="RunAsync"/> fired, for a session that
    /// is told to stop another way (SMTP: "421 4.3.2" at its next read, without a token per connection).</summary>
    void OnStopping()
    {
    }

    /// <summary>Last resort when the session has not ended within the grace period of a shutdown.</summary>
    void Abort()
    {
    }
}

/// <summary>What a protocol does with a connection the host accepted: make its session, or refuse it.</summary>
public interface IConnectionHandler<in TListener> where TListener : ListenerOptions
{
    /// <summary>The session of a connection, or null when it is refused (the handler has answered, e.g. with
    /// <see cref="ListenerHost.RefuseAsync"/>, and owns the socket). <paramref name="open"/>: sessions running now.</summary>
    IListenerSession? Admit(Socket socket, IPEndPoint client, IPEndPoint local, TListener listener, int open, bool stopping);

    /// <summary>A session <see cref="Admit"/> made has ended and been disposed (SMTP frees its per-client slot).</summary>
    void Ended(IListenerSession session)
    {
    }
}

/// <summary>Helpers of <see cref="ListenerHost{TListener}"/> that need no listener type.</summary>
public static class ListenerHost
{
    /// <summary>Closes a refused connection, sending <paramref name="line"/> first when there is one (a plaintext
    /// listener; on an implicit-TLS one plaintext would only confuse the client's TLS stack, so nothing is sent).</summary>
    public static async Task RefuseAsync(Socket socket, byte[]? line)
    {
        try
        {
            if (line is not null)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.SendAsync(line, SocketFlags.None, timeout.Token);
            }
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }
}

/// <summary>
/// The listeners and sessions of one protocol, the same for SMTP, IMAP, POP3 and ManageSieve: binds every listener (a
/// port that cannot be bound names its setting), accepts through <see cref="ConnectionListener"/> (PROXY protocol
/// header, IPv4-mapped clients unmapped), lets the protocol's <see cref="IConnectionHandler{TListener}"/> admit or
/// refuse each connection (its limits), runs one <see cref="IListenerSession"/> per connection and, at shutdown, stops
/// accepting, tells every session and waits for them, aborting those still open after the grace period.
/// </summary>
/// <param name="protocol">"SMTP", "IMAP", "POP3", "ManageSieve": for errors and logs.</param>
/// <param name="section">"Smtp", "Imap", "Pop3", "ManageSieve": the settings section errors name.</param>
/// <param name="gracePeriod">How long a shutdown waits for the sessions (infinite: until its token fires).</param>
public sealed class ListenerHost<TListener>(string protocol, string section, IReadOnlyList<TListener> listeners, ClientNetworks proxyNetworks, TimeSpan proxyTimeout,
    TimeSpan gracePeriod, ILogger logger) : IDisposable where TListener : ListenerOptions
{
    private readonly Dictionary<string, IPEndPoint> _bound = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<ConnectionListener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<IListenerSession, Task> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private IConnectionHandler<TListener>? _handler;

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _bound;

    /// <summary>Sessions running now.</summary>
    public int OpenSessions => _sessions.Count;

    /// <summary>Binds every listener, then starts accepting; a listener that cannot bind fails the whole start.</summary>
    public void Start(IConnectionHandler<TListener> handler)
    {
        _handler = handler;
        try
        {
            for (var i = 0; i < listeners.Count; i++)
            {
                var l = listeners[i];
                // Validated by the protocol's options; a bare address would bind port 0.
                var endpoint = ListenerOptions.TryParseEndpoint(l.Endpoint, out var parsed) ? parsed : IPEndPoint.Parse(l.Endpoint);
                var listener = ConnectionListener.Bind(endpoint, $"{protocol} listener {l.Name}", $"{section}:Listeners:{i}:Endpoint");
                _listeners.Add(listener);
                _bound[l.Name] = listener.LocalEndpoint;
                logger.LogInformation("{Protocol} listener {Name} on {Endpoint} (implicit TLS: {Tls}, PROXY protocol: {Proxy})", protocol, l.Name, listener.LocalEndpoint, l.ImplicitTls, l.ProxyProtocol);
            }
        }
        catch
        {
            foreach (var started in _listeners) started.Dispose();
            _listeners.Clear();
            _bound.Clear();
            throw;
        }
        for (var i = 0; i < listeners.Count; i++)
        {
            var l = listeners[i];
            // Postfix smtpd_upstream_proxy_protocol = haproxy, Dovecot haproxy = yes: the client is the one the header
            // names, so the limits and the whole session see it instead of the proxy.
            var proxy = l.ProxyProtocol ? new ProxyAdmission(proxyNetworks, proxyTimeout, $"{section}:Listeners:{i}:ProxyProtocol, {section}:ProxyNetworks") : null;
            _acceptLoops.Add(_listeners[i].RunAsync(proxy, (socket, client, local) => Admit(socket, client, local, l), logger, _stopping.Token));
        }
    }

    private void Admit(Socket socket, IPEndPoint client, IPEndPoint local, TListener listener)
    {
        var stopping = _stopping.IsCancellationRequested;
        var session = _handler!.Admit(socket, client, local, listener, _sessions.Count, stopping);
        if (session is null) return;
        // Registered before it runs, so a session that ends at once is still removed (and counted) correctly.
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sessions[session] = RunSessionAsync(session, registered.Task);
        registered.SetResult();
        if (stopping) session.OnStopping();
    }

    private async Task RunSessionAsync(IListenerSession session, Task registered)
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
            _handler!.Ended(session);
        }
    }

    /// <summary>Stops accepting, cancels every session's token and calls its <see cref="IListenerSession.OnStopping"/>
    /// (each says its goodbye), and waits for them, up to the grace period or until <paramref name="ct"/> fires; then
    /// aborts those still open.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync();
        foreach (var listener in _listeners) listener.Dispose();
        try
        {
            await Task.WhenAll(_acceptLoops).WaitAsync(ct);
            foreach (var session in _sessions.Keys) session.OnStopping();
            await Task.WhenAll(_sessions.Values.ToArray()).WaitAsync(gracePeriod, ct);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            logger.LogWarning("{Protocol} sessions did not end within the shutdown's grace period; {Count} closed", protocol, _sessions.Count);
            foreach (var session in _sessions.Keys) session.Abort();
        }
        logger.LogInformation("{Protocol} server stopped", protocol);
    }

    public void Dispose() => _stopping.Dispose();
}
