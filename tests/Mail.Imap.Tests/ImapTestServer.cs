using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Imap.Tests;

/// <summary>A real gateway over the embedded SQLite + file stores in a temp directory, listening on loopback
/// (one plain/STARTTLS listener and one implicit-TLS listener), with users alice and bob.</summary>
public sealed class ImapTestServer : IAsyncDisposable
{
    public const string Alice = "alice@example.test";
    public const string Bob = "bob@example.test";
    public const string Password = "s3cret-pw";

    private readonly string _dir;

    private ImapTestServer(string dir, ImapServer server, SqliteMailboxStore mailboxes, FileMessageStore messages, ImapServerOptions options)
    {
        _dir = dir;
        Server = server;
        Mailboxes = mailboxes;
        Messages = messages;
        Options = options;
    }

    public ImapServer Server { get; }
    public SqliteMailboxStore Mailboxes { get; }
    public FileMessageStore Messages { get; }
    public ImapServerOptions Options { get; }
    public required MailDirectory Users { get; init; }
    public required string DatabasePath { get; init; }
    /// <summary>Storage limits (none set: every user unlimited until a test sets one).</summary>
    public required UserQuotas Quotas { get; init; }
    public IPEndPoint Plain => Server.BoundEndpoints["imap"];
    public IPEndPoint Tls => Server.BoundEndpoints["imaps"];
    public int Port => Plain.Port;

    /// <summary>The temp directory holding mail.db, messages/ and (when configured) the on-disk cache.</summary>
    public string DataPath => _dir;

    /// <summary>The directory to give <see cref="ImapServerOptions.CacheDirectory"/> in a test.</summary>
    public static string CacheDirectoryOf(string dataPath) => Path.Combine(dataPath, "imap-cache");

    /// <param name="authCache">The process's login cache (Auth:CacheTtl in `mail serve`), given to the directory.</param>
    public static Task<ImapTestServer> StartAsync(Action<ImapServerOptions>? configure = null, AuthCache? authCache = null) =>
        StartInAsync(null, configure, diskCache: false, authCache);

    /// <summary>A gateway whose sessions reach the store through <paramref name="interpose"/> (given the real store):
    /// a test that must land another session's change between two reads of one command wraps it.</summary>
    public static Task<ImapTestServer> StartAsync(Func<IMailboxStore, IMailboxStore> interpose, Action<ImapServerOptions>? configure = null) =>
        StartInAsync(null, configure, diskCache: false, interpose: interpose);

    /// <summary>A gateway that logs to <paramref name="loggerFactory"/>, its sessions reaching the store through
    /// <paramref name="interpose"/> when given.</summary>
    public static Task<ImapTestServer> StartAsync(Microsoft.Extensions.Logging.ILoggerFactory loggerFactory, Func<IMailboxStore, IMailboxStore>? interpose = null) =>
        StartInAsync(null, null, diskCache: false, interpose: interpose, loggerFactory: loggerFactory);

    /// <summary>A gateway with its on-disk ENVELOPE cache in <see cref="CacheDirectoryOf"/> its data directory.</summary>
    public static Task<ImapTestServer> StartWithDiskCacheAsync(Action<ImapServerOptions>? configure = null) => StartInAsync(null, configure, diskCache: true);

    /// <summary>Stops this gateway (its data stays) and starts a new one over the same data: a server restart, the
    /// in-memory caches empty. <paramref name="whileStopped"/> runs in between.</summary>
    public async Task<ImapTestServer> RestartAsync(Action<ImapServerOptions>? configure = null, Action? whileStopped = null, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null)
    {
        await Server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        whileStopped?.Invoke();
        return await StartInAsync(_dir, configure, Options.CacheDirectory is not null, loggerFactory: loggerFactory);
    }

    private static async Task<ImapTestServer> StartInAsync(string? existing, Action<ImapServerOptions>? configure, bool diskCache, AuthCache? authCache = null, Func<IMailboxStore, IMailboxStore>? interpose = null, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null)
    {
        var dir = existing ?? Path.Combine(Path.GetTempPath(), "imap-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var db = Path.Combine(dir, "mail.db");
        var state = new SqliteStateStore(db);
        var directory = new MailDirectory(state, passwordIterations: 1000, authCache);
        await directory.AddDomainAsync("example.test");
        await directory.SetUserAsync(Alice, Password);
        await directory.SetUserAsync(Bob, Password);
        var mailboxes = new SqliteMailboxStore(db);
        var messages = new FileMessageStore(Path.Combine(dir, "messages"));
        var options = new ImapServerOptions
        {
            HostName = "imap.example.test",
            Certificate = Certificate.Value,
            Listeners =
            [
                new ImapListenerOptions { Name = "imap", Endpoint = "127.0.0.1:0" },
                new ImapListenerOptions { Name = "imaps", Endpoint = "127.0.0.1:0", ImplicitTls = true },
            ],
            FailedLoginDelay = TimeSpan.FromMilliseconds(20),
            IdlePollInterval = TimeSpan.FromMilliseconds(200),
        };
        if (diskCache) options.CacheDirectory = CacheDirectoryOf(dir);
        configure?.Invoke(options);
        var quotas = new UserQuotas(state, mailboxes);
        var server = new ImapServer(options, new ImapServices { Mailboxes = interpose is null ? mailboxes : interpose(mailboxes), Messages = messages, Directory = directory, Quotas = quotas }, loggerFactory);
        await server.StartAsync();
        return new ImapTestServer(dir, server, mailboxes, messages, options) { Users = directory, DatabasePath = db, Quotas = quotas };
    }

    /// <summary>Delivers a message the way the pipeline does: raw bytes into the message store, a record into the mailbox store.</summary>
    public async Task<AppendResult> DeliverAsync(string user, string mailbox, string raw, string[]? flags = null, DateTimeOffset? date = null)
    {
        var id = "t" + Guid.NewGuid().ToString("N");
        await using var w = await Messages.CreateAsync(id);
        var bytes = System.Text.Encoding.UTF8.GetBytes(raw);
        await w.WriteAsync(bytes);
        var stored = await w.CommitAsync();
        await Mailboxes.EnsureUserMailboxesAsync(user);
        return await Mailboxes.AppendAsync(user, mailbox, new NewMessage(stored.Id, stored.Size, date ?? DateTimeOffset.UtcNow, flags ?? [], "key-" + id));
    }

    /// <summary>A MailKit client logged in as <see cref="Alice"/> on the plain listener.</summary>
    public async Task<MailKit.Net.Imap.ImapClient> ConnectAliceAsync()
    {
        var client = new MailKit.Net.Imap.ImapClient { Timeout = 15000 };
        await client.ConnectAsync("127.0.0.1", Port, MailKit.Security.SecureSocketOptions.None);
        await client.AuthenticateAsync(Alice, Password);
        return client;
    }

    public static string Message(string subject, string body = "Hello there.\r\n", string from = "Carol <carol@example.org>", string to = Alice) =>
        $"From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{Guid.NewGuid():N}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}";

    /// <summary>Certificate check for test clients: accept exactly the test server's self-signed certificate.</summary>
    public static bool TrustTestCertificate(object sender, X509Certificate? certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors) =>
        certificate is not null && certificate.GetCertHashString() == Certificate.Value.GetCertHashString();

    private static readonly Lazy<X509Certificate2> Certificate = new(() =>
    {
        using var key = RSA.Create(2048);
        var req = new CertificateRequest("CN=imap.example.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("imap.example.test");
        san.AddIpAddress(IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    });

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
