using System.Net;
using Mail.Core.Listening;
using Mail.Pop3.Protocol;
using Mail.Pop3.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Pop3;

/// <summary>
/// The POP3 gateway (RFC 1939 with RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 SASL PLAIN) over the user's INBOX in the
/// mailbox store, the same one IMAP serves. Its listeners are a <see cref="GatewayHost"/>, as IMAP's are; each
/// connection runs a <see cref="Pop3Session"/>.
/// </summary>
public sealed class Pop3Server : IAsyncDisposable
{
    private readonly Pop3ServerOptions _options;
    private readonly Pop3Services _services;
    private readonly ILogger _logger;
    private readonly LoginThrottle _throttle;
    private readonly MaildropLocks _locks = new();
    private readonly GatewayHost _host;
    private int _started;

    public Pop3Server(Pop3ServerOptions options, Pop3Services services, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        options.Validate();
        _options = options;
        _services = services;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Mail.Pop3");
        _host = new GatewayHost("POP3", "Pop3", options.Listeners,
            new ClientNetworks(options.ProxyNetworks), options.ProxyTimeout, options.MaxConnections, Pop3Replies.TooManyConnections, _logger);
        _throttle = services.Throttle ?? new LoginThrottle(options.MaxFailedLogins, options.FailedLoginWindow, services.Time);
    }

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _host.BoundEndpoints;

    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The POP3 server is already started.");
        await _services.Directory.OpenAsync(ct);
        _host.Start((socket, client, listener) => new Pop3Session(socket, client, listener.ImplicitTls, _options, _services, _throttle, _locks, _logger));
    }

    /// <summary>Stops accepting, tells every session "-ERR [SYS/TEMP] Server shutting down" (nothing is expunged) and
    /// waits for them to end.</summary>
    public Task StopAsync(CancellationToken ct = default) => _host.StopAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _host.Dispose();
    }
}
