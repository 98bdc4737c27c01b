using Mail.Core.Tls;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Mail.Core.Listening;
using Mail.Smtp.Protocol;
using Mail.Smtp.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Smtp;

/// <summary>
/// The SMTP edge: binds the configured listeners, admits connections within the limits, and runs one
/// <see cref="SmtpSession"/> per connection. StopAsync stops accepting and sends "421 4.3.2" to every session.
/// </summary>
public sealed class SmtpServer : IAsyncDisposable
{
    private readonly SmtpServerOptions _options;
    private readonly SmtpServices _services;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<SmtpSession, byte> _sessions = new();
    private readonly List<(SmtpListenerOptions Listener, ConnectionListener Socket)> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly Dictionary<string, IPEndPoint> _bound = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stopAccepting = new();
    private ConnectionLimiter? _limiter;
    private ClientNetworks _myNetworks = new([]);
    private ClientNetworks _proxyNetworks = new([]);
    private RateLimiter? _rateLimiter;
    private RecipientDirectory? _recipients;
    private RecipientQuota? _quota;
    private ServerCertificate? _certificate;
    private long _sessionCounter;
    private volatile bool _stopping;
    private bool _started;
    private bool _stopped;

    public SmtpServer(SmtpServerOptions options, SmtpServices services, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        _options = options;
        _services = services;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<SmtpServer>();
    }

    /// <summary>Listener name → the endpoint actually bound (with the OS-chosen port when the configured port was 0).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _bound;

    /// <summary>Open sessions right now.</summary>
    public int ConnectionCount => _sessions.Count;

    /// <summary>Validates the options and binds every listener. A listener that cannot bind fails the whole start, naming its setting.</summary>
    public Task StartAsync(CancellationToken ct = default)
    {
        if (_started) throw new InvalidOperationException("The SMTP server is already started.");
        _options.Validate();
        _started = true;
        _limiter = new ConnectionLimiter(_options.MaxConnections, _options.MaxConnectionsPerClient);
        _myNetworks = new ClientNetworks(_options.MyNetworks);
        _proxyNetworks = new ClientNetworks(_options.ProxyNetworks);
        _recipients = new RecipientDirectory(_services.Directory, _options.DirectoryCacheTtl, _services.Time);
        _quota = _services.Quotas is { } quotas ? new RecipientQuota(quotas, _options.DirectoryCacheTtl, _services.Time) : null;
        if (_options.RateLimits.Any)
        {
            if (_services.State is null)
                throw new Microsoft.Extensions.Options.OptionsValidationException(SmtpServerOptions.SectionName, typeof(SmtpServerOptions),
                    ["Smtp:RateLimits are configured but no state store was given to the SMTP server (SmtpServices.State)."]);
            _rateLimiter = new RateLimiter(_options.RateLimits, _services.State, _services.Time, _loggerFactory.CreateLogger<RateLimiter>());
        }
        _certificate = _options.Certificate;
        try
        {
            for (var i = 0; i < _options.Listeners.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var listener = _options.Listeners[i];
                SmtpServerOptions.TryParseEndpoint(listener.Endpoint, out var endpoint);
                var bound = ConnectionListener.Bind(endpoint, $"SMTP listener {listener.Name}", $"Smtp:Listeners:{i}:Endpoint");
                _listeners.Add((listener, bound));
                _bound[listener.Name] = bound.LocalEndpoint;
                _logger.LogInformation("SMTP listener {Name} ({Role}{Tls}{Proxy}) on {Endpoint}", listener.Name, listener.Role,
                    listener.ImplicitTls ? ", implicit TLS" : "", listener.ProxyProtocol ? ", PROXY protocol" : "", bound.LocalEndpoint);
            }
        }
        catch
        {
            foreach (var (_, s) in _listeners) s.Dispose();
            _listeners.Clear();
            _bound.Clear();
            throw;
        }
        var sessionLogger = _loggerFactory.CreateLogger<SmtpSession>();
        for (var i = 0; i < _listeners.Count; i++)
        {
            var (listener, bound) = _listeners[i];
            // Postfix smtpd_upstream_proxy_protocol = haproxy: the client is the one the header names, so the
            // connection limits and the whole session see it instead of the proxy.
            var proxy = listener.ProxyProtocol ? new ProxyAdmission(_proxyNetworks, _options.ProxyTimeout, $"Smtp:Listeners:{i}:ProxyProtocol, Smtp:ProxyNetworks") : null;
            // The accept loop outlives StartAsync: StopAsync ends it (_stopAccepting), not the token that started it.
            _acceptLoops.Add(Task.Run(() => bound.RunAsync(proxy, (socket, client, local) => Admit(listener, socket, client, local, sessionLogger), _logger, _stopAccepting.Token), CancellationToken.None));
        }
        return Task.CompletedTask;
    }

    /// <summary>Admits a connection within the limits and starts its session, or refuses it with 421.</summary>
    private void Admit(SmtpListenerOptions listener, Socket socket, IPEndPoint client, IPEndPoint local, ILogger sessionLogger)
    {
        var refusal = _stopping ? "Service shutting down" : _limiter!.TryAcquire(client.Address);
        if (refusal is not null)
        {
            Mail.Core.Telemetry.MailTelemetry.Reject(Mail.Core.Telemetry.RejectReason.Connection);
            _ = RefuseAsync(socket, listener, refusal);
            return;
        }
        var id = $"{listener.Name}-{Interlocked.Increment(ref _sessionCounter)}";
        SmtpSession? session = null;
        try
        {
            try
            {
                session = new SmtpSession(socket, client, local, listener, _options, _services, _certificate, sessionLogger, id, _myNetworks, _rateLimiter, _recipients!, _quota);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
            {
                // The client left before we could look at it.
                _limiter!.Release(client.Address);
                socket.Dispose();
                return;
            }
            Run(session, client.Address);
            session = null; // the session's task owns it now
        }
        finally
        {
            session?.Dispose();
        }
    }

    /// <summary>Runs an admitted session on its own task; when it ends it is disposed and its connection slot freed.</summary>
    private void Run(SmtpSession session, IPAddress client)
    {
        _sessions[session] = 0;
        Mail.Core.Telemetry.MailTelemetry.Connections.Add(1);
        if (_stopping) session.RequestStop();
        _ = Task.Run(async () =>
        {
            try
            {
                await session.RunAsync();
            }
            finally
            {
                session.Dispose();
                _sessions.TryRemove(session, out _);
                _limiter!.Release(client);
            }
        });
    }

    /// <summary>421 at connect for a client over the connection limits (plaintext listeners only; a TLS port just closes).</summary>
    private async Task RefuseAsync(Socket socket, SmtpListenerOptions listener, string reason)
    {
        try
        {
            if (!listener.ImplicitTls)
            {
                var replies = SmtpHostReplies.For(_options.HostName);
                var reply = _stopping ? replies.ShuttingDownRefused : replies.ConnectionRefused(reason);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.SendAsync(reply.ToArray(), SocketFlags.None, timeout.Token);
            }
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    /// <summary>Stops accepting, sends "421 4.3.2 Service shutting down" to every session at its next read, and waits
    /// for them to close. When <paramref name="ct"/> fires first, the remaining connections are dropped.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (!_started || _stopped) return;
        _stopped = true;
        _stopping = true;
        await _stopAccepting.CancelAsync();
        foreach (var (_, socket) in _listeners) socket.Dispose();
        try
        {
            await Task.WhenAll(_acceptLoops).WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
        }
        foreach (var session in _sessions.Keys) session.RequestStop();
        try
        {
            await Task.WhenAll(_sessions.Keys.Select(s => s.Completion)).WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            foreach (var session in _sessions.Keys) session.Abort();
        }
        _logger.LogInformation("SMTP server stopped");
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await StopAsync(timeout.Token);
        _stopAccepting.Dispose();
    }
}
