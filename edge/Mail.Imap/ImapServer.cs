using System.Net;
using System.Net.Sockets;
using Mail.Core.Listening;
using Mail.Imap.Protocol;
using Mail.Imap.Messages;
using Mail.Imap.Session;
using Microsoft.Extensions.Logging;

namespace Mail.Imap;

/// <summary>
/// The IMAP gateway (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1) over the mailbox and message stores.
/// Set up as every <see cref="GatewayServer{TListener, TOptions, TServices}"/> (one listener per <see cref="ImapListenerOptions"/>); each
/// connection runs an <see cref="ImapSession"/>; at shutdown every session is sent "* BYE".
/// </summary>
public sealed class ImapServer : GatewayServer<ImapListenerOptions, ImapServerOptions, ImapServices>
{
    public ImapServer(ImapServerOptions options, ImapServices services, ILoggerFactory? loggerFactory = null)
        : base("IMAP", "Imap", options, services, "* BYE Too many connections, try later", loggerFactory)
    {
        _envelopes = new EnvelopeCache(options.EnvelopeCacheSize);
        if (options.PersistentCache && options.CacheDirectory is not null)
        {
            _diskCache = new PersistentFetchCache(options.CacheDirectory, options.PersistentCacheSize, Logger);
            _listSnapshots = new MessageListSnapshot(options.CacheDirectory, Logger);
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

    protected override IListenerSession CreateSession(Socket socket, IPEndPoint client, ListenerOptions listener) =>
        new ImapSession(socket, client, listener.ImplicitTls, Options, Services, Throttle, _envelopes, _diskCache, _messageLists, _recent, _keywords, Logger);

    protected override async ValueTask DisposeResourcesAsync()
    {
        if (_listSnapshots is not null) await _listSnapshots.FlushAsync();
        if (_diskCache is not null) await _diskCache.DisposeAsync();
    }
}
