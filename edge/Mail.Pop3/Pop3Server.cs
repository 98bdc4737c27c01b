using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Mail.Core.Listening;
using Mail.Pop3.Protocol;
using Mail.Pop3.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Pop3;

/// <summary>
/// The POP3 gateway (RFC 1939 with RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 SASL PLAIN) over the user's INBOX in the
/// mailbox store, the same one IMAP serves. One <see cref="ConnectionListener"/> per <see cref="Pop3ListenerOptions"/>;
/// each connection runs a <see cref="Pop3Session"/>.
/// </summary>
public sealed class Pop3Server : IAsyncDisposable
{
    private readonly Pop3ServerOptions _options;
    private readonly Pop3Services _services;
    private readonly ILogger _logger;
    private readonly LoginThrottle _throttle;
    private readonly MaildropLocks _locks = new();
    private readonly ClientNetworks _proxyNetworks;
    private readonly Dictionary<string, IPEndPoint> _bound = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(ConnectionListener Listener, Pop3ListenerOptions Options)> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<Pop3Session, Task> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _started;

    public Pop3Server(Pop3ServerOptions options, Pop3Services services, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        options.Validate();
        _options = options;
        _services = services;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Mail.Pop3");
        _proxyNetworks = new ClientNetworks(options.ProxyNetworks);
        _throttle = services.Throttle ?? new LoginThrottle(options.MaxFailedLogins, options.FailedLoginWindow, services.Time);
    }

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _bound;

    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The POP3 server is already started.");
        await _services.Directory.OpenAsync(ct);
        try
        {
            for (var i = 0; i < _options.Listeners.Count; i++)
            {
                var l = _options.Listeners[i];
                var listener = ConnectionListener.Bind(IPEndPoint.Parse(l.Endpoint), $"POP3 listener {l.Name}", $"Pop3:Listeners:{i}:Endpoint");
                _listeners.Add((listener, l));
                _bound[l.Name] = listener.LocalEndpoint;
                _logger.LogInformation("POP3 listener {Name} on {Endpoint} (implicit TLS: {Tls}, PROXY protocol: {Proxy})", l.Name, listener.LocalEndpoint, l.ImplicitTls, l.ProxyProtocol);
            }
        }
        catch
        {
            foreach (var (started, _) in _listeners) started.Dispose();
            _listeners.Clear();
            throw;
        }
        for (var i = 0; i < _listeners.Count; i++)
        {
            var (listener, l) = _listeners[i];
            var proxy = l.ProxyProtocol ? new ProxyAdmission(_proxyNetworks, _options.ProxyTimeout, $"Pop3:Listeners:{i}:ProxyProtocol, Pop3:ProxyNetworks") : null;
            _acceptLoops.Add(listener.RunAsync(proxy, (socket, client, _) => Admit(socket, l, client), _logger, _stopping.Token));
        }
    }

    private void Admit(Socket socket, Pop3ListenerOptions listener, IPEndPoint client)
    {
        if (_sessions.Count >= _options.MaxConnections)
        {
            _ = RefuseAsync(socket, listener.ImplicitTls);
            return;
        }
        var session = new Pop3Session(socket, client, listener.ImplicitTls, _options, _services, _throttle, _locks, _logger);
        // Registered before it runs, so a session that ends at once is still removed correctly.
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sessions[session] = RunSessionAsync(session, registered.Task);
        registered.SetResult();
    }

    private async Task RunSessionAsync(Pop3Session session, Task registered)
    {
        await registered;
        try
        {
            await session.RunAsync(_stopping.Token);
        }
        catch (Exception e)
        {
            _logger.LogDebug(e, "POP3 session ended with an error");
        }
        finally
        {
            _sessions.TryRemove(session, out _);
            await session.DisposeAsync();
        }
    }

    /// <summary>-ERR at connect over the connection limit (plaintext listeners only; a TLS port just closes).</summary>
    private static async Task RefuseAsync(Socket socket, bool implicitTls)
    {
        try
        {
            if (!implicitTls)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(Pop3Replies.TooManyConnections + "\r\n"), SocketFlags.None, timeout.Token);
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

    /// <summary>Stops accepting, tells every session "-ERR [SYS/TEMP] Server shutting down" (nothing is expunged) and
    /// waits for them to end.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync();
        foreach (var (listener, _) in _listeners) listener.Dispose();
        try
        {
            await Task.WhenAll(_acceptLoops).WaitAsync(ct);
            await Task.WhenAll(_sessions.Values.ToArray()).WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("POP3 sessions did not end within 10 s of shutdown");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
    }
}
