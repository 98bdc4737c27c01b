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
            _cacheFiles = new MailboxCacheFiles(options.CacheDirectory, options.PersistentCacheSize, Logger);
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

    /// <summary>The mailbox store's connections and the statements of a login, LIST and SELECT.</summary>
    protected override Task PrepareAsync(CancellationToken ct) => Services.Mailboxes.OpenAsync(ct);

    protected override IListenerSession CreateSession(Socket socket, IPEndPoint client, ListenerOptions listener) =>
        new ImapSession(socket, client, listener.ImplicitTls, Options, Services, Throttle, _envelopes, _messageLists, _recent, _keywords, Logger);

    protected override async ValueTask DisposeResourcesAsync()
    {
        if (_cacheFiles is not null) await _cacheFiles.DisposeAsync();
    }
}
