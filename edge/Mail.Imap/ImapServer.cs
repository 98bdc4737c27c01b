using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Mail.Core.Listening;
using Mail.Imap.Protocol;
using Mail.Imap.Messages;
using Mail.Imap.Session;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Imap;

/// <summary>
/// The IMAP gateway (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1) over the mailbox and message stores.
/// One listener per <see cref="ImapListenerOptions"/>; each connection runs an <see cref="ImapSession"/>.
/// </summary>
public sealed class ImapServer : IAsyncDisposable
{
    private readonly ImapServerOptions _options;
    private readonly ImapServices _services;
    private readonly ILogger _logger;
    private readonly LoginThrottle _throttle;
    private readonly ClientNetworks _proxyNetworks;
    private readonly Dictionary<string, IPEndPoint> _bound = [];
    private readonly List<(ConnectionListener Listener, ImapListenerOptions Options)> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<ImapSession, Task> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _started;

    public ImapServer(ImapServerOptions options, ImapServices services, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        options.Validate();
        _options = options;
        _services = services;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Mail.Imap");
        _proxyNetworks = new ClientNetworks(options.ProxyNetworks);
        _throttle = services.Throttle ?? new LoginThrottle(options.MaxFailedLogins, options.FailedLoginWindow, services.Time);
        _envelopes = new EnvelopeCache(options.EnvelopeCacheSize);
        if (options.PersistentCache && options.CacheDirectory is not null)
        {
            _diskCache = new PersistentFetchCache(options.CacheDirectory, options.PersistentCacheSize, _logger);
            _listSnapshots = new MessageListSnapshot(options.CacheDirectory, _logger);
        }
        _messageLists = new MessageListCache(options.MessageListCacheSize, _listSnapshots);
    }

    private readonly EnvelopeCache _envelopes;
    private readonly MessageListCache _messageLists;
    private readonly RecentTracker _recent = new();
    private readonly MailboxKeywords _keywords = new();
    private readonly PersistentFetchCache? _diskCache;
    private readonly MessageListSnapshot? _listSnapshots;

    /// <summary>SELECTs answered from an on-disk message list snapshot since start (zero without a cache directory).</summary>
    public long MessageListSnapshotHits => _listSnapshots?.Hits ?? 0;

    /// <summary>ENVELOPEs and BODYSTRUCTUREs served from the on-disk cache since start (zero without one): shows a
    /// cold FETCH was answered without parsing the messages.</summary>
    public long PersistentCacheHits => _diskCache?.Hits ?? 0;

    /// <summary>Entries written to the on-disk cache since start.</summary>
    public long PersistentCacheWrites => _diskCache?.Written ?? 0;

    /// <summary>Times the on-disk cache file was found unusable and built again.</summary>
    public long PersistentCacheRebuilds => _diskCache?.Rebuilds ?? 0;

    /// <summary>Waits until the on-disk cache holds everything computed so far (it is written behind the replies).</summary>
    public Task FlushCacheAsync() => Task.WhenAll(_diskCache?.FlushAsync() ?? Task.CompletedTask, _listSnapshots?.FlushAsync() ?? Task.CompletedTask);

    /// <summary>Message list snapshots written to the cache directory since start.</summary>
    public long MessageListSnapshotWrites => _listSnapshots?.Written ?? 0;

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _bound;

    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The IMAP server is already started.");
        // The user directory is opened before the first connection is accepted, as Dovecot's auth process is started
        // by its master: the first login does not pay for the store's first read and the hash library's load.
        await _services.Directory.OpenAsync(ct);
        try
        {
            for (var i = 0; i < _options.Listeners.Count; i++)
            {
                var l = _options.Listeners[i];
                var listener = ConnectionListener.Bind(IPEndPoint.Parse(l.Endpoint), $"IMAP listener {l.Name}", $"Imap:Listeners:{i}:Endpoint");
                _listeners.Add((listener, l));
                _bound[l.Name] = listener.LocalEndpoint;
                _logger.LogInformation("IMAP listener {Name} on {Endpoint} (implicit TLS: {Tls}, PROXY protocol: {Proxy})", l.Name, listener.LocalEndpoint, l.ImplicitTls, l.ProxyProtocol);
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
            var proxy = l.ProxyProtocol ? new ProxyAdmission(_proxyNetworks, _options.ProxyTimeout, $"Imap:Listeners:{i}:ProxyProtocol, Imap:ProxyNetworks") : null;
            _acceptLoops.Add(listener.RunAsync(proxy, (socket, client, _) => Admit(socket, l, client), _logger, _stopping.Token));
        }
    }

    private void Admit(Socket socket, ImapListenerOptions listenerOptions, IPEndPoint client)
    {
        if (_sessions.Count >= _options.MaxConnections)
        {
            _ = RefuseAsync(socket);
            return;
        }
        var session = new ImapSession(socket, client, listenerOptions.ImplicitTls, _options, _services, _throttle, _envelopes, _diskCache, _messageLists, _recent, _keywords, _logger);
        // Registered before it runs, so a session that ends at once is still removed (and counted) correctly.
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sessions[session] = RunSessionAsync(session, registered.Task);
        registered.SetResult();
    }

    private async Task RunSessionAsync(ImapSession session, Task registered)
    {
        await registered;
        try
        {
            await session.RunAsync(_stopping.Token);
        }
        catch (Exception e)
        {
            _logger.LogDebug(e, "IMAP session ended with an error");
        }
        finally
        {
            _sessions.TryRemove(session, out _);
            await session.DisposeAsync();
        }
    }

    private static async Task RefuseAsync(Socket socket)
    {
        try
        {
            await socket.SendAsync("* BYE Too many connections, try later\r\n"u8.ToArray());
        }
        catch (SocketException) { }
        finally
        {
            socket.Dispose();
        }
    }

    /// <summary>Stops accepting, sends "* BYE" to every session and waits for them to end.</summary>
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
            _logger.LogWarning("IMAP sessions did not end within 10 s of shutdown");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_listSnapshots is not null) await _listSnapshots.FlushAsync();
        if (_diskCache is not null) await _diskCache.DisposeAsync();
        _stopping.Dispose();
    }
}
