using System.Globalization;
using Mail.Auth.Dkim.Signing;
using Mail.Configuration;
using Mail.Core.Accounts;
using Mail.Core.Forwarding;
using Mail.Core.Ports;
using Mail.Storage.Azure;
using Mail.Storage.Embedded;
using Microsoft.Extensions.Configuration;

namespace Mail.Host;

/// <summary>
/// The stores a running system works on, chosen by the "Mode" setting: <c>embedded</c> (default: the data
/// directory's files, spools and SQLite) or <c>cloud</c> (section "Azure": Blob, Storage Queue or Service Bus, Table).
/// In cloud mode this process is the thin edge: the Functions app consumes the inbound queue.
/// </summary>
public sealed class MailStores : IAsyncDisposable
{
    private readonly IAsyncDisposable? _owner;

    /// <summary>The embedded inbound spool when <see cref="Inbound"/> is one (its count and load figures), null in cloud mode.</summary>
    private readonly SpoolQueue? _localInbound;

    private MailStores(IMessageStore messages, IMessageStore edgeMessages, IMessageQueue inbound, SpoolQueue? localInbound, IMessageQueue outbound, IStateStore state, IMailboxStore mailboxes, string mode, IAsyncDisposable? owner,
        ISecretStore? secrets, RecipientRules recipients, AuthCache? authCache, long? defaultQuota)
    {
        _localInbound = localInbound;
        (Messages, EdgeMessages, Inbound, Outbound, State, Mailboxes, Mode, _owner) = (messages, edgeMessages, inbound, outbound, state, mailboxes, mode, owner);
        Secrets = secrets;
        Directory = new MailDirectory(state, authCache: authCache) { Recipients = recipients, Srs = secrets is null ? null : new SenderRewriting(secrets) };
        Quotas = new UserQuotas(state, mailboxes, defaultQuota);
    }

    public const string Embedded = "embedded";
    public const string Cloud = "cloud";

    public IMessageStore Messages { get; }
    /// <summary>Where the SMTP edge writes the messages it accepts (embedded: the spool's segments; cloud: the same Blob container).</summary>
    public IMessageStore EdgeMessages { get; }
    public IMessageQueue Inbound { get; }
    public IMessageQueue Outbound { get; }
    public IStateStore State { get; }
    public IMailboxStore Mailboxes { get; }
    public MailDirectory Directory { get; }
    /// <summary>Users' storage limits (mail user quota, Quota:Default) and usage, for the edge, IMAP and delivery.</summary>
    public UserQuotas Quotas { get; }
    /// <summary>Private keys (DKIM): embedded, 0600 files in the data directory; cloud, rows sealed under
    /// Dkim:KeyEncryptionKey, or null when that is not set.</summary>
    public ISecretStore? Secrets { get; }
    public string Mode { get; }

    /// <summary>Our domains' DKIM keys, one instance per process: a key the console adds or rotates signs at once.</summary>
    public DkimKeyStore DkimKeys => _dkimKeys!.Value;

    private Lazy<DkimKeyStore>? _dkimKeys;

    /// <summary>The administration service over these stores, for the `mail` commands and the web console.</summary>
    public Mail.Admin.AdminService Admin { get; private set; } = null!;

    /// <summary>Envelopes waiting in the local inbound spool (embedded mode), for the startup line.</summary>
    public int? LocalQueueCount => _localInbound?.Count;

    /// <summary>The local inbound spool's backlog, for the edge's in-flow control (embedded mode); null in cloud mode.</summary>
    public Mail.Core.Queues.IIncomingBacklog? LocalBacklog => _localInbound;

    /// <summary>Inbound envelopes dropped at load because their message never reached the disk (embedded mode).</summary>
    public int DroppedAtLoad => _localInbound?.DroppedAtLoad ?? 0;

    public static MailStores Open(IConfiguration configuration, DataLayout data)
    {
        var stores = OpenStores(configuration, data);
        // One key store per process, for the console, the signer and the sealer (built when first asked: its settings
        // are checked then, as commands that never touch DKIM need not have them right).
        var dkimKeys = new Lazy<DkimKeyStore>(() => DkimSettings.BuildKeyStore(configuration, stores.State, stores.Secrets, stores.Directory));
        stores._dkimKeys = dkimKeys;
        stores.Admin = new Mail.Admin.AdminService(stores.Directory, stores.Mailboxes, stores.Messages, stores.Inbound, stores.Outbound, stores.State, stores.Quotas,
            () => dkimKeys.Value, stores.Mode == Cloud);
        return stores;
    }

    private static MailStores OpenStores(IConfiguration configuration, DataLayout data)
    {
        var mode = (configuration["Mode"] ?? Embedded).Trim().ToLowerInvariant();
        var recipients = RecipientSettings.Bind(configuration);
        var authCache = LoginCache(configuration);
        var defaultQuota = QuotaSettings.DefaultLimit(configuration);
        switch (mode)
        {
            case Embedded:
                // The MailStores owns the close from here (its DisposeAsync runs it).
#pragma warning disable CA2000
                return new MailStores(data.Messages, data.Originals, data.Inbound, data.Inbound, data.Outbound, data.State, data.Mailboxes, mode,
                    new Closing(data.CloseMessageStores), data.Secrets, recipients, authCache, defaultQuota);
#pragma warning restore CA2000
            case Cloud:
                var options = new AzureStorageOptions();
                configuration.GetSection("Azure").Bind(options);
                try
                {
                    // The MailStores owns the adapters from here (its DisposeAsync closes them).
#pragma warning disable CA2000
                    var azure = AzureAdapters.Create(options);
#pragma warning restore CA2000
                    return new MailStores(azure.MessageStore, azure.MessageStore, azure.InboundQueue, null, azure.OutboundQueue, azure.StateStore, azure.MailboxStore, mode, azure,
                        DkimSettings.SealedSecrets(configuration, azure.StateStore), recipients, authCache, defaultQuota);
                }
                catch (AzureConfigurationException e)
                {
                    throw new ConfigurationException(e.Message);
                }
                catch (Exception e) when (e is FormatException or ArgumentException or IndexOutOfRangeException)
                {
                    // The SDK's client constructors parse the connection string and the URIs (an IP-address endpoint
                    // without the account name as its path fails with an index error).
                    throw new HostFailureException(ExitCodes.Config, "Azure storage", $"cannot create the clients: {e.Message}",
                        options.ConnectionString is not null ? "Azure:ConnectionString" : "Azure:BlobServiceUri, Azure:QueueServiceUri, Azure:TableServiceUri", e);
                }
            default:
                throw new ConfigurationException($"Mode: '{configuration["Mode"]}' is not 'embedded' or 'cloud'");
        }
    }

    /// <summary>
    /// The process's login cache from "Auth:CacheTtl" (default 1 hour, as Dovecot's auth_cache_ttl; 0 turns it off) and
    /// "Auth:CacheSize" (default 10,000 users): one for SMTP AUTH and IMAP, so a client that logs in again within the TTL
    /// with the same password skips the PBKDF2 (see <see cref="AuthCache"/>). The trade-off, as with Dovecot's: a memory
    /// dump of the process holds HMACs under a key in the same memory (fast to test) instead of only slow hashes.
    /// </summary>
    public static AuthCache? LoginCache(IConfiguration configuration)
    {
        var ttl = AuthCache.DefaultTtl;
        if (configuration["Auth:CacheTtl"]?.Trim() is { Length: > 0 } t
            && (!TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out ttl) || ttl < TimeSpan.Zero))
            throw new ConfigurationException($"Auth:CacheTtl: '{t}' is not a time span of zero or more (hh:mm:ss; 0 turns the login cache off)");
        var size = AuthCache.DefaultSize;
        if (configuration["Auth:CacheSize"]?.Trim() is { Length: > 0 } s
            && (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size < 1))
            throw new ConfigurationException($"Auth:CacheSize: '{s}' is not a whole number of at least 1 (users remembered by the login cache)");
        return AuthCache.Create(ttl, size);
    }

    public ValueTask DisposeAsync() => _owner?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>The embedded stores' close, run when the stores are disposed (after the host has stopped).</summary>
    private sealed class Closing(Action close) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            close();
            return ValueTask.CompletedTask;
        }
    }
}
