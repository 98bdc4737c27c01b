using System.Net;
using System.Security.Cryptography.X509Certificates;
using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Storage.Embedded;

namespace Mail.Smtp.Tests;

/// <summary>
/// A real <see cref="SmtpServer"/> on 127.0.0.1 (OS-chosen ports) over the embedded adapters in a temp directory.
/// Local domain "example.test" with users alice and bob; "other.test" is somebody else's.
/// Listeners: "mx" (plain + STARTTLS), "submission" (Submission role, STARTTLS) and "submissions" (implicit TLS).
/// Passwords of alice and bob: "secret".
/// </summary>
internal sealed class SmtpTestServer : IAsyncDisposable
{
    public const string Domain = "example.test";

    public static readonly TimeSpan TestRateWindow = TimeSpan.FromDays(3650);

    private static readonly Lazy<X509Certificate2> s_certificate = new(() =>
        SelfSignedCertificate.LoadOrCreate(Path.Combine(Path.GetTempPath(), "mail-smtp-tests", "test-cert.pfx"), "mx.example.test"));

    public static X509Certificate2 Certificate => s_certificate.Value;

    /// <summary>TLS clients in tests pin the test certificate (it is self-signed, so chain validation cannot pass).</summary>
    public static bool IsTestCertificate(object sender, X509Certificate? certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors) =>
        certificate is not null && certificate.GetCertHashString() == Certificate.GetCertHashString();

    private SmtpTestServer(string root, FileMessageStore store, SpoolQueue queue, IMessageQueue queueSeenByServer, MailDirectory directory, SmtpServer server, SmtpServerOptions options, SqliteStateStore state)
    {
        State = state;
        Root = root;
        Store = store;
        Queue = queue;
        QueueSeenByServer = queueSeenByServer;
        Directory = directory;
        Server = server;
        Options = options;
    }

    public string Root { get; }
    public FileMessageStore Store { get; }
    public SpoolQueue Queue { get; }
    public IMessageQueue QueueSeenByServer { get; }
    public MailDirectory Directory { get; }
    public SmtpServer Server { get; }
    public SmtpServerOptions Options { get; }
    public SqliteStateStore State { get; }

    public IPEndPoint Mx => Server.BoundEndpoints["mx"];
    public IPEndPoint Submissions => Server.BoundEndpoints["submissions"];
    public IPEndPoint Submission => Server.BoundEndpoints["submission"];

    public static async Task<SmtpTestServer> StartAsync(Action<SmtpServerOptions>? configure = null, ISmtpSessionPolicy? policy = null,
        Func<IMessageQueue, IMessageQueue>? wrapQueue = null, Func<IMessageStore, IMessageStore>? wrapStore = null, IDnsResolver? dns = null, Mail.Spf.SpfChecker? spf = null,
        Func<SpoolQueue, Mail.Core.Queues.InFlowControl>? inFlow = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "mail-smtp-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(root);
        var store = new FileMessageStore(Path.Combine(root, "messages"));
        var queue = new SpoolQueue(Path.Combine(root, "spool"), "inbound");
        var state = new SqliteStateStore(Path.Combine(root, "state.db"));
        var directory = new MailDirectory(state, passwordIterations: 1000);
        await directory.AddDomainAsync(Domain);
        await directory.SetUserAsync($"alice@{Domain}", "secret");
        await directory.SetUserAsync($"bob@{Domain}", "secret");
        var options = new SmtpServerOptions
        {
            HostName = "mx.example.test",
            Certificate = Certificate,
            Listeners =
            [
                new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:0", Role = SmtpListenerRole.Mx },
                new SmtpListenerOptions { Name = "submission", Endpoint = "127.0.0.1:0", Role = SmtpListenerRole.Submission },
                new SmtpListenerOptions { Name = "submissions", Endpoint = "127.0.0.1:0", Role = SmtpListenerRole.Submission, ImplicitTls = true },
            ],
            // Failed AUTH is slowed down; keep that short here (tests never assert timings).
            AuthFailureDelay = TimeSpan.FromMilliseconds(100),
        };
        // Rate-limit windows are fixed: a window boundary between two connections of a test would reset the count.
        // Tests count within one window; a ten-year window has no boundary during a run.
        options.RateLimits.Window = TestRateWindow;
        configure?.Invoke(options);
        var seen = wrapQueue?.Invoke(queue) ?? queue;
        var server = new SmtpServer(options, new SmtpServices { MessageStore = wrapStore?.Invoke(store) ?? store, InboundQueue = seen, Directory = directory, Policy = policy, Dns = dns, State = state, Spf = spf, InFlow = inFlow?.Invoke(queue) });
        await server.StartAsync();
        return new SmtpTestServer(root, store, queue, seen, directory, server, options, state);
    }

    public async Task<List<Envelope>> QueuedAsync()
    {
        var list = new List<Envelope>();
        await foreach (var e in Queue.ListAsync()) list.Add(e.Envelope);
        return list;
    }

    /// <summary>Committed message files (temp files of writers in progress excluded).</summary>
    public string[] StoredMessageIds() =>
        System.IO.Directory.GetFiles(Store.Root).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).Select(n => n!).ToArray();

    public async Task<string> ReadMessageAsync(string id)
    {
        await using var s = await Store.OpenReadAsync(id) ?? throw new FileNotFoundException(id);
        using var r = new StreamReader(s);
        return await r.ReadToEndAsync();
    }

    public RawSmtpClient Connect() => RawSmtpClient.Connect(Mx);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
