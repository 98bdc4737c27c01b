using Mail.Core.Listening;

namespace Mail.Imap;

/// <summary>One listening socket (configuration section "Imap:Listeners:N"): "143-style" (plain, STARTTLS offered) or
/// "993-style" (implicit TLS); ProxyProtocol believes the header of a proxy in <see cref="GatewayOptions{TListener}.ProxyNetworks"/>,
/// and the client it names is the client for the login throttle and the logs.</summary>
public sealed class ImapListenerOptions() : ListenerOptions("imap", "127.0.0.1:2143");

/// <summary>Section "Imap"; the gateway settings every protocol shares (host name, listeners, certificate,
/// login throttle, connection limit, PROXY networks) are in <see cref="GatewayOptions{TListener}"/>.</summary>
public sealed class ImapServerOptions : GatewayOptions<ImapListenerOptions>
{
    /// <summary>Largest literal a client may send (APPEND message size cap).</summary>
    public long MaxLiteralSize { get; set; } = 50L * 1024 * 1024;

    /// <summary>Longest command line (outside literals).</summary>
    public int MaxLineLength { get; set; } = 64 * 1024;

    /// <summary>Idle time allowed before LOGIN (RFC 9051 says nothing; kept short against idle probes).</summary>
    public TimeSpan UnauthenticatedTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Autologout timer after authentication (RFC 9051 5.4: at least 30 minutes).</summary>
    public TimeSpan AuthenticatedTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How often an IDLE session polls the mailbox store for deliveries by other processes.</summary>
    public TimeSpan IdlePollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Formatted ENVELOPEs kept in memory for the "sync" FETCH (messages are immutable, so they never go
    /// stale); about 0.5 KiB each. Zero turns the cache off.</summary>
    public int EnvelopeCacheSize { get; set; } = 50_000;

    /// <summary>Message records (about 0.2 KiB each) kept for SELECT of unchanged mailboxes, over all mailboxes;
    /// a mailbox larger than this is never cached. Zero turns the cache off.</summary>
    public int MessageListCacheSize { get; set; } = 200_000;

    /// <summary>Directory of the on-disk cache (<c>boxes/</c>: one file per mailbox with its message list and the
    /// formatted ENVELOPE, BODYSTRUCTURE and BODY of its messages), kept across restarts like Dovecot's dovecot.index
    /// and dovecot.index.cache; on the gateway's local disk in both modes (embedded or cloud). Unset: no on-disk cache; the
    /// host chooses it (for `mail serve`, &lt;DataDirectory&gt;/imap-cache). Safe to delete at any time (it is rebuilt).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Turns the on-disk FETCH cache off even when <see cref="CacheDirectory"/> is set.</summary>
    public bool PersistentCache { get; set; } = true;

    /// <summary>Most formatted items (ENVELOPE about 0.3 KiB, BODYSTRUCTURE about 0.2 KiB for a simple message) held
    /// in memory from the on-disk cache files over all mailboxes; past it they are let go and read again when needed.</summary>
    public int PersistentCacheSize { get; set; } = 1_000_000;

    public override void Validate()
    {
        ValidateGateway("Imap");
        if (MaxLiteralSize < 1024) throw new InvalidOperationException("Imap:MaxLiteralSize must be at least 1024.");
        if (MaxLineLength < 1024) throw new InvalidOperationException("Imap:MaxLineLength must be at least 1024.");
        if (UnauthenticatedTimeout <= TimeSpan.Zero) throw new InvalidOperationException("Imap:UnauthenticatedTimeout must be positive.");
        if (AuthenticatedTimeout <= TimeSpan.Zero) throw new InvalidOperationException("Imap:AuthenticatedTimeout must be positive.");
        if (IdlePollInterval <= TimeSpan.Zero || IdlePollInterval > TimeSpan.FromSeconds(1))
            throw new InvalidOperationException("Imap:IdlePollInterval must be between 0 and 1 second (IDLE must wake within a second).");
        if (EnvelopeCacheSize < 0) throw new InvalidOperationException("Imap:EnvelopeCacheSize must not be negative (zero turns the cache off).");
        if (MessageListCacheSize < 0) throw new InvalidOperationException("Imap:MessageListCacheSize must not be negative (zero turns the cache off).");
        if (PersistentCacheSize < 1) throw new InvalidOperationException("Imap:PersistentCacheSize must be at least 1 (Imap:PersistentCache=false turns the cache off).");
        if (PersistentCache && CacheDirectory is not null) ValidateCacheDirectory(CacheDirectory);
    }

    private static void ValidateCacheDirectory(string directory)
    {
        try
        {
            if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("the path is empty");
            Directory.CreateDirectory(directory);
            var probe = Path.Combine(directory, ".write-probe");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidOperationException($"Imap:CacheDirectory '{directory}' cannot be used: {e.Message}", e);
        }
    }
}
