using System.Net;
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
    private readonly GatewayHost _host;
    private int _started;

    public ImapServer(ImapServerOptions options, ImapServices services, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        options.Validate();
        _options = options;
        _services = services;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Mail.Imap");
        _host = new GatewayHost("IMAP", "Imap", options.Listeners,
            new ClientNetworks(options.ProxyNetworks), options.ProxyTimeout, options.MaxConnections, "* BYE Too many connections, try later", _logger);
        _throttle = services.Throttle ?? new LoginThrottle(options.MaxFailedLogins, options.FailedLoginWindow, services.Time);
        _envelopes = new EnvelopeCache(options.EnvelopeCacheSize);
        if (options.PersistentCache && options.CacheDirectory is not null)
        {
            _cacheFiles = new MailboxCacheFiles(options.CacheDirectory, options.PersistentCacheSize, _logger);
        }
        _messageLists = new MessageListCache(options.MessageListCacheSize, _cacheFiles);
    }

    private readonly EnvelopeCache _envelopes;
    private readonly MessageListCache _messageLists;
    private readonly RecentTracker _recent = new();
    private readonly MailboxKeywords _keywords = new();
    private readonly MailboxCacheFiles? _cacheFiles;

    /// <summary>SELECTs answered from an on-disk message list snapshot since start (zero without a cache directory).</summary>
    public long MessageListSnapshotHits => _cacheFiles?.ListHits ?? 0;

    /// <summary>ENVELOPEs and BODYSTRUCTUREs served from the on-disk cache since start (zero without one): shows a
    /// cold FETCH was answered without parsing the messages.</summary>
    public long PersistentCacheHits => _cacheFiles?.Hits ?? 0;

    /// <summary>Entries written to the on-disk cache since start.</summary>
    public long PersistentCacheWrites => _cacheFiles?.Written ?? 0;

    /// <summary>Times an on-disk cache file was found unusable (damaged, foreign, another format version) and built again.</summary>
    public long PersistentCacheRebuilds => _cacheFiles?.Rebuilds ?? 0;

    /// <summary>Waits until the on-disk cache holds everything computed so far (it is written behind the replies).</summary>
    public Task FlushCacheAsync() => _cacheFiles?.FlushAsync() ?? Task.CompletedTask;

    /// <summary>Message list snapshots written to the cache directory since start.</summary>
    public long MessageListSnapshotWrites => _cacheFiles?.ListWritten ?? 0;

    /// <summary>Listener name to the endpoint actually bound (port 0 resolved).</summary>
    public IReadOnlyDictionary<string, IPEndPoint> BoundEndpoints => _host.BoundEndpoints;

    public async Task StartAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The IMAP server is already started.");
        // The user directory is opened before the first connection is accepted, as Dovecot's auth process is started
        // by its master: the first login does not pay for the store's first read and the hash library's load.
        await _services.Directory.OpenAsync(ct);
        _host.Start((socket, client, listener) =>
            new ImapSession(socket, client, listener.ImplicitTls, _options, _services, _throttle, _envelopes, _messageLists, _recent, _keywords, _logger));
    }

    /// <summary>Stops accepting, sends "* BYE" to every session and waits for them to end.</summary>
    public Task StopAsync(CancellationToken ct = default) => _host.StopAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_cacheFiles is not null) await _cacheFiles.DisposeAsync();
        _host.Dispose();
    }
}
