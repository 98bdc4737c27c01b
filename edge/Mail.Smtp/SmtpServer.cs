using Mail.Core.Tls;
using System.Net;
using System.Net.Sockets;
using Mail.Core.Listening;
using Mail.Smtp.Protocol;
using Mail.Smtp.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Smtp;

/// <summary>
/// The SMTP edge: its listeners are a <see cref="ListenerHost{TListener}"/>, as the gateways' are; it admits
/// connections within the limits (421 at connect past them) and runs one <see cref="SmtpSession"/> per connection.
/// StopAsync stops accepting and sends "421 4.3.2" to every session.
/// </summary>
public sealed class SmtpServer : IAsyncDisposable, IConnectionHandler<SmtpListenerOptions>
{
    private readonly SmtpServerOptions _options;
    private readonly SmtpServices _services;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private ListenerHost<SmtpListenerOptions>? _host;
    private ILogger _sessionLogger = NullLogger.Instance;
    private ConnectionLimiter? _limiter;
    private ClientNetworks _myNetworks = new([]);
    private RateLimiter? _rateLimiter;
    private RecipientDirectory? _recipients;
    private RecipientQuota? _quota;
    private ServerCertificate? _certificate;
    private long _sessionCounter;
    private bool _started;

    public SmtpServer(SmtpServerOptions options, SmtpServices services, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        _options = options;
        _services = services;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<SmtpServer>();
    }

    private static readonly IReadOnlyDictionary<string, IPEndPoint> NoneBound = new Dictionary<string, IPEndPoint>();

    /// <summary>Listener name → the endpoint actually bound (with the OS-chosen port when the configured port was 0).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _host?.BoundEndpoints ?? NoneBound;

    /// <summary>Open sessions right now.</summary>
    public int ConnectionCount => _host?.OpenSessions ?? 0;

    /// <summary>Validates the options and binds every listener. A listener that cannot bind fails the whole start, naming its setting.</summary>
    public Task StartAsync(CancellationToken ct = default)
    {
        if (_started) throw new InvalidOperationException("The SMTP server is already started.");
        _options.Validate();
        ct.ThrowIfCancellationRequested();
        _started = true;
        _limiter = new ConnectionLimiter(_options.MaxConnections, _options.MaxConnectionsPerClient);
        _myNetworks = new ClientNetworks(_options.MyNetworks);
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
        _sessionLogger = _loggerFactory.CreateLogger<SmtpSession>();
        // A graceful stop waits for every session's 421 until the caller's token gives up (then they are aborted).
        _host = new ListenerHost<SmtpListenerOptions>("SMTP", SmtpServerOptions.SectionName, _options.Listeners, new ClientNetworks(_options.ProxyNetworks),
            _options.ProxyTimeout, Timeout.InfiniteTimeSpan, _logger);
        _host.Start(this);
        return Task.CompletedTask;
    }

    /// <summary>Admits a connection within the limits and makes its session, or refuses it with 421.</summary>
    IListenerSession? IConnectionHandler<SmtpListenerOptions>.Admit(Socket socket, IPEndPoint client, IPEndPoint local, SmtpListenerOptions listener, int open, bool stopping)
    {
        var refusal = stopping ? "Service shutting down" : _limiter!.TryAcquire(client.Address);
        if (refusal is not null)
        {
            Mail.Core.Telemetry.MailTelemetry.Reject(Mail.Core.Telemetry.RejectReason.Connection, client.Address);
            // 421 at connect on plaintext listeners only; a TLS port just closes.
            var replies = SmtpHostReplies.For(_options.HostName);
            _ = ListenerHost.RefuseAsync(socket, listener.ImplicitTls ? null : (stopping ? replies.ShuttingDownRefused : replies.ConnectionRefused(refusal)).ToArray());
            return null;
        }
        var id = $"{listener.Name}-{Interlocked.Increment(ref _sessionCounter)}";
        try
        {
            var session = new SmtpSession(socket, client, local, listener, _options, _services, _certificate, _sessionLogger, id, _myNetworks, _rateLimiter, _recipients!, _quota);
            Mail.Core.Telemetry.MailTelemetry.Connections.Add(1);
            return session;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            // The client left before we could look at it.
            _limiter!.Release(client.Address);
            socket.Dispose();
            return null;
        }
    }

    /// <summary>A session ended: its connection slot is free again.</summary>
    void IConnectionHandler<SmtpListenerOptions>.Ended(IListenerSession session) => _limiter!.Release(((SmtpSession)session).Facts.ClientEndPoint.Address);

    /// <summary>Drops the answers RCPT TO keeps for Smtp:DirectoryCacheTtl (domains, users, aliases, limits): the host
    /// calls it when the directory changed (its own write, or a `mail` command's word on the control socket), so the
    /// next RCPT reads it again.</summary>
    public void ForgetDirectoryAnswers()
    {
        _recipients?.Forget();
        _quota?.Forget();
    }

    /// <summary>Stops accepting, sends "421 4.3.2 Service shutting down" to every session at its next read, and waits
    /// for them to close. When <paramref name="ct"/> fires first, the remaining connections are dropped.</summary>
    public Task StopAsync(CancellationToken ct = default) => _host?.StopAsync(ct) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await StopAsync(timeout.Token);
        _host?.Dispose();
    }
}
