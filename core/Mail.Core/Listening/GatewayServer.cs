using System.Net;
using System.Net.Sockets;
using Mail.Core.Accounts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Core.Listening;

/// <summary>
/// The server of a mailbox-access gateway (IMAP, POP3, ManageSieve), set up once: its options validated, its listeners
/// a <see cref="GatewayHost"/>, its login throttle (the shared one, or its own), the user directory opened before the
/// first connection; each protocol only makes the session of a connection.
/// </summary>
/// <param name="protocol">"IMAP", "POP3", "ManageSieve": for errors and logs.</param>
/// <param name="section">"Imap", "Pop3", "ManageSieve": the settings section errors name; the logger is "Mail.&lt;section&gt;".</param>
/// <param name="tooManyConnections">The reply a plaintext listener sends past <see cref="ListeningOptions{TListener}.MaxConnections"/>.</param>
public abstract class GatewayServer<TListener, TOptions, TServices> : IAsyncDisposable
    where TListener : ListenerOptions where TOptions : GatewayOptions<TListener> where TServices : GatewayServices
{
    private readonly string _protocol;
    private readonly MailDirectory _directory;
    private readonly GatewayHost _host;
    private int _started;

    protected GatewayServer(string protocol, string section, TOptions options, TServices services, string tooManyConnections, ILoggerFactory? loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        options.Validate();
        Options = options;
        Services = services;
        _protocol = protocol;
        _directory = services.Directory;
        Logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Mail." + section);
        _host = new GatewayHost(protocol, section, options.Listeners,
            new ClientNetworks(options.ProxyNetworks), options.ProxyTimeout, options.MaxConnections, tooManyConnections, Logger);
        Throttle = services.Throttle ?? new LoginThrottle(options.MaxFailedLogins, options.FailedLoginWindow, services.Time);
    }

    protected TOptions Options { get; }

    protected TServices Services { get; }

    protected ILogger Logger { get; }

    protected LoginThrottle Throttle { get; }

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _host.BoundEndpoints;

    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException($"The {_protocol} server is already started.");
        // The user directory is opened before the first connection is accepted, as Dovecot's auth process is started
        // by its master: the first login does not pay for the store's first read and the hash library's load.
        await _directory.OpenAsync(ct);
        await PrepareAsync(ct);
        _host.Start(CreateSession);
    }

    /// <summary>What the protocol opens before its first connection is accepted, after the user directory (IMAP: the
    /// mailbox store), so that the first client after a restart does not wait for it.</summary>
    protected virtual Task PrepareAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>The session of a connection from its socket, its client (the one a PROXY header names, else the peer)
    /// and its listener.</summary>
    protected abstract IListenerSession CreateSession(Socket socket, IPEndPoint client, ListenerOptions listener);

    /// <summary>Stops accepting, tells every session the protocol's goodbye and waits for them to end.</summary>
    public Task StopAsync(CancellationToken ct = default) => _host.StopAsync(ct);

    /// <summary>What the protocol keeps beyond its listeners (IMAP's caches), after the sessions have ended.</summary>
    protected virtual ValueTask DisposeResourcesAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await DisposeResourcesAsync();
        _host.Dispose();
        GC.SuppressFinalize(this);
    }
}
