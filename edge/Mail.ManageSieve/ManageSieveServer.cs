using System.Net;
using Mail.Core.Listening;
using Mail.ManageSieve.Protocol;
using Mail.ManageSieve.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.ManageSieve;

/// <summary>
/// The ManageSieve service (RFC 5804): users upload, check, list, activate and remove the Sieve scripts delivery runs,
/// from Thunderbird's sieve add-on, Roundcube's managesieve plugin or sieve-connect. Its listeners are a
/// <see cref="GatewayHost"/>, as IMAP's and POP3's are; each connection runs a <see cref="ManageSieveSession"/>.
/// </summary>
public sealed class ManageSieveServer : IAsyncDisposable
{
    private readonly ManageSieveServerOptions _options;
    private readonly ManageSieveServices _services;
    private readonly ILogger _logger;
    private readonly LoginThrottle _throttle;
    private readonly GatewayHost _host;
    private int _started;

    public ManageSieveServer(ManageSieveServerOptions options, ManageSieveServices services, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        options.Validate();
        _options = options;
        _services = services;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Mail.ManageSieve");
        _host = new GatewayHost("ManageSieve", "ManageSieve", options.Listeners,
            new ClientNetworks(options.ProxyNetworks), options.ProxyTimeout, options.MaxConnections, ManageSieveReplies.TooManyConnections, _logger);
        _throttle = services.Throttle ?? new LoginThrottle(options.MaxFailedLogins, options.FailedLoginWindow, services.Time);
    }

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _host.BoundEndpoints;

    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The ManageSieve server is already started.");
        await _services.Directory.OpenAsync(ct);
        _host.Start((socket, client, _) => new ManageSieveSession(socket, client, _options, _services, _throttle, _logger));
    }

    /// <summary>Stops accepting, tells every session BYE (TRYLATER) and waits for them to end.</summary>
    public Task StopAsync(CancellationToken ct = default) => _host.StopAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _host.Dispose();
    }
}
