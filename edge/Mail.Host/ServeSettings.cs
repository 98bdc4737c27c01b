using Mail.Configuration;
using Mail.Core.Listening;
using Mail.Imap;
using Mail.ManageSieve;
using Mail.Pop3;
using Mail.Pipeline.Local;
using Mail.Core.SmtpPolicy;
using Mail.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Mail.Host;

/// <summary>Everything `mail serve` needs from configuration, bound and validated before anything starts,
/// so a bad setting is one clear line naming it rather than a half-started server.</summary>
public sealed record ServeSettings(SmtpServerOptions Smtp, ImapServerOptions Imap, bool ImapEnabled, LocalWorkerOptions Worker, bool WorkerEnabled)
{
    public static async Task<ServeSettings> LoadAsync(IConfiguration configuration, DataLayout data, ILogger log, CancellationToken cancellationToken = default)
    {
        var smtp = BindSmtp(configuration);
        var imap = BindImap(configuration);
        // The IMAP gateway's on-disk FETCH cache (ENVELOPE, BODYSTRUCTURE) lives beside the data; safe to delete.
        imap.CacheDirectory ??= Path.Combine(data.Root, "imap-cache");
        var imapEnabled = configuration.GetValue("Imap:Enabled", true);
        var pop3 = BindPop3(configuration, imap);
        var pop3Enabled = configuration.GetValue("Pop3:Enabled", true);
        var manageSieve = BindManageSieve(configuration, imap);
        var manageSieveEnabled = configuration.GetValue("ManageSieve:Enabled", true);
        foreach (var old in new[] { "Imap:AuthCacheTtl", "Imap:AuthCacheSize" })
            if (configuration[old] is not null)
                log.LogWarning("{Setting} is no longer read: Auth:CacheTtl and Auth:CacheSize set the one login cache of SMTP AUTH and IMAP (default 1 hour, 0 turns it off)", old);
        var worker = BindWorker(configuration);
        worker.Validate();
        var outbound = BindOutbound(configuration);
        try
        {
            outbound.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException(e.Message);
        }
        var tls = await Tls.TlsCertificate.LoadAsync(configuration, data, smtp.HostName, log, cancellationToken);
        smtp.Certificate = tls.Certificate;
        imap.Certificate = tls.Certificate;
        pop3.Certificate = tls.Certificate;
        manageSieve.Certificate = tls.Certificate;
        smtp.Validate();
        if (imapEnabled) imap.Validate();
        if (pop3Enabled) pop3.Validate();
        if (manageSieveEnabled) manageSieve.Validate();
        var embedded = !string.Equals(configuration["Mode"]?.Trim(), MailStores.Cloud, StringComparison.OrdinalIgnoreCase);
        var maintenanceInterval = configuration.GetValue("Maintenance:Interval", TimeSpan.FromMinutes(5));
        if (maintenanceInterval <= TimeSpan.Zero)
            throw new ConfigurationException($"Maintenance:Interval must be positive (got '{configuration["Maintenance:Interval"]}')");
        var quarantineRetention = configuration.GetValue("Maintenance:QuarantineRetention", Mail.Pipeline.Maintenance.MaintenanceStage.DefaultQuarantineRetention);
        if (quarantineRetention <= TimeSpan.Zero)
            throw new ConfigurationException($"Maintenance:QuarantineRetention must be positive (got '{configuration["Maintenance:QuarantineRetention"]}')");
        var workerEnabled = configuration.GetValue("Worker:Enabled", embedded);
        var directoryCacheTtl = configuration.GetValue(DirectoryCacheTtlSetting, TimeSpan.FromSeconds(5));
        if (directoryCacheTtl < TimeSpan.Zero || directoryCacheTtl > TimeSpan.FromHours(1))
            throw new ConfigurationException($"{DirectoryCacheTtlSetting} must be between 0 and 1 hour (got '{configuration[DirectoryCacheTtlSetting]}')");
        return new ServeSettings(smtp, imap, imapEnabled, worker, workerEnabled)
        {
            DataRoot = data.Root,
            Pop3 = pop3,
            Pop3Enabled = pop3Enabled,
            ManageSieve = manageSieve,
            ManageSieveEnabled = manageSieveEnabled,
            InlineSocketCompletions = InlineCompletions(configuration, imapEnabled || pop3Enabled, workerEnabled),
            // In cloud mode the Functions app's timer does maintenance; the edge need not.
            MaintenanceEnabled = configuration.GetValue("Maintenance:Enabled", embedded),
            MaintenanceInterval = maintenanceInterval,
            QuarantineRetention = quarantineRetention,
            DirectoryCacheTtl = directoryCacheTtl,
            Outbound = outbound,
            CertificateReloader = tls.Reloader,
            Acme = tls.Acme,
            AutoconfigEndpoint = EndpointSetting.Read(configuration, Http.Autoconfig.AutoconfigServer.EndpointSetting, "0.0.0.0:80"),
            AutoconfigHttpsEndpoint = EndpointSetting.Read(configuration, Http.Autoconfig.AutoconfigServer.HttpsEndpointSetting, "0.0.0.0:443"),
            MtaSts = Http.Autoconfig.MtaStsSettings.Load(configuration, smtp.HostName),
        };
    }

    /// <summary>"Autoconfig:HttpsEndpoint" (address:port): the same host over HTTPS with the mail certificate, which also
    /// serves the MTA-STS policy (docs/autoconfig.md); null, the default, serves no HTTPS.</summary>
    public System.Net.IPEndPoint? AutoconfigHttpsEndpoint { get; init; }

    /// <summary>The MTA-STS policies served on <see cref="AutoconfigHttpsEndpoint"/> ("MtaSts:*").</summary>
    public Mail.Admin.Dns.MtaStsPublication? MtaSts { get; init; }

    /// <summary>"Autoconfig:Endpoint" (address:port): where Thunderbird autoconfig and Outlook autodiscover are served over
    /// HTTP (docs/autoconfig.md); null, the default, serves neither.</summary>
    public System.Net.IPEndPoint? AutoconfigEndpoint { get; init; }

    /// <summary>
    /// "Sockets:InlineCompletions": whether the code after a socket read runs on the runtime's socket event threads
    /// (one per core) instead of being handed to a thread-pool thread. For an SMTP edge that hand-off is a large share
    /// of the context switches per message (bench/README.md), and every SMTP step is short; what blocks (SQLite, the
    /// password hash) moves to the pool itself (<see cref="Mail.Core.Threading.ThreadPoolHop"/>). The IMAP gateway and
    /// the worker block in many more places (message files, MimeKit, the continuations of DNS answers), so "auto",
    /// the default, turns it on only in a process that runs the SMTP edge alone (Imap:Enabled, Pop3:Enabled and Worker:Enabled false).
    /// </summary>
    public bool InlineSocketCompletions { get; init; }

    /// <summary>The runtime's switch for inline socket completions, read once when the first socket is registered.</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private static bool InlineCompletions(IConfiguration configuration, bool imapEnabled, bool workerEnabled)
    {
        var value = configuration["Sockets:InlineCompletions"]?.Trim();
        if (string.IsNullOrEmpty(value) || value.Equals("auto", StringComparison.OrdinalIgnoreCase)) return !imapEnabled && !workerEnabled;
        if (bool.TryParse(value, out var on)) return on;
        throw new ConfigurationException($"Sockets:InlineCompletions must be auto, true or false (got '{value}')");
    }

    /// <summary>Section "Pop3": the POP3 gateway over the same INBOX as IMAP.</summary>
    public Pop3ServerOptions Pop3 { get; init; } = new();

    /// <summary>The data directory (DataDirectory): where the control socket the `mail` commands reach is (<see cref="ControlSocket"/>).</summary>
    public string? DataRoot { get; init; }

    /// <summary>"Pop3:Enabled", default true: false turns POP3 off (Dovecot's protocols without pop3).</summary>
    public bool Pop3Enabled { get; init; }

    /// <summary>Section "ManageSieve": users' Sieve scripts over RFC 5804.</summary>
    public ManageSieveServerOptions ManageSieve { get; init; } = new();

    /// <summary>"ManageSieve:Enabled", default true: false turns it off (Dovecot's protocols without sieve).</summary>
    public bool ManageSieveEnabled { get; init; }

    /// <summary>Run <see cref="Mail.Pipeline.Maintenance.MaintenanceStage"/> periodically ("Maintenance:Enabled", default true in embedded mode).</summary>
    public bool MaintenanceEnabled { get; init; }

    /// <summary>"Maintenance:Interval", default 5 minutes.</summary>
    public TimeSpan MaintenanceInterval { get; init; } = TimeSpan.FromMinutes(5);

    public const string DirectoryCacheTtlSetting = "State:DirectoryCacheTtl";

    /// <summary>"State:DirectoryCacheTtl", default 5 s: how long the embedded server answers reads of domains, users, aliases,
    /// limits and Sieve scripts from memory. Its own writes (console, ManageSieve) are seen at once, a `mail` command's
    /// when it tells the server (control socket), another process's within this time.</summary>
    public TimeSpan DirectoryCacheTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>"Maintenance:QuarantineRetention", default 30 days: quarantined messages older than this are deleted.</summary>
    public TimeSpan QuarantineRetention { get; init; } = Mail.Pipeline.Maintenance.MaintenanceStage.DefaultQuarantineRetention;

    /// <summary>Section "Outbound": the outbound stage (routing, SMTP client, retries, relay host).</summary>
    public Mail.Outbound.OutboundOptions Outbound { get; init; } = new();

    /// <summary>Polls the configured certificate (file or Key Vault) for a renewed one; null for the self-signed one.</summary>
    public Tls.CertificateReloader? CertificateReloader { get; init; }

    /// <summary>Obtains and renews the certificate from an ACME CA ("Tls:Acme:Directory"); null when not set.</summary>
    public Tls.Acme.AcmeRenewer? Acme { get; init; }

    public static Mail.Outbound.OutboundOptions BindOutbound(IConfiguration configuration)
    {
        var options = new Mail.Outbound.OutboundOptions();
        var section = configuration.GetSection(Mail.Outbound.OutboundOptions.SectionName);
        // A retired setting is refused rather than ignored: the operator set it for a reason.
        if (section["CommandTimeout"] is not null)
            throw new Mail.Configuration.SettingsException(Mail.Outbound.OutboundTimeouts.CommandTimeoutRetired);
        section.Bind(options);
        return options;
    }

    public static LocalWorkerOptions BindWorker(IConfiguration configuration)
    {
        var options = new LocalWorkerOptions();
        configuration.GetSection("Worker").Bind(options);
        return options;
    }

    public static SmtpServerOptions BindSmtp(IConfiguration configuration)
    {
        var options = new SmtpServerOptions();
        configuration.GetSection(SmtpServerOptions.SectionName).Bind(options);
        return WithListeners(options, new SmtpListenerOptions(),
            new SmtpListenerOptions { Name = "submission", Endpoint = "127.0.0.1:2587", Role = SmtpListenerRole.Submission },
            new SmtpListenerOptions { Name = "submissions", Endpoint = "127.0.0.1:2465", Role = SmtpListenerRole.Submission, ImplicitTls = true });
    }

    public static ImapServerOptions BindImap(IConfiguration configuration)
    {
        var options = new ImapServerOptions();
        configuration.GetSection("Imap").Bind(options);
        return WithListeners(options, new ImapListenerOptions(), new ImapListenerOptions { Name = "imaps", Endpoint = "127.0.0.1:2993", ImplicitTls = true });
    }

    /// <summary>Section "Pop3". Without listeners: 127.0.0.1:2110 (STLS) and 127.0.0.1:2995 (implicit TLS). Who may log
    /// in without TLS follows IMAP (Imap:AllowPlaintextLoginOnLoopback) unless Pop3 sets it, so the two never
    /// disagree by accident.</summary>
    public static Pop3ServerOptions BindPop3(IConfiguration configuration, ImapServerOptions imap)
    {
        var options = new Pop3ServerOptions { HostName = imap.HostName, AllowPlaintextLoginOnLoopback = imap.AllowPlaintextLoginOnLoopback };
        configuration.GetSection("Pop3").Bind(options);
        return WithListeners(options, new Pop3ListenerOptions(), new Pop3ListenerOptions { Name = "pop3s", Endpoint = "127.0.0.1:2995", ImplicitTls = true });
    }

    /// <summary>Section "ManageSieve". Without listeners: 127.0.0.1:24190 (production: 4190, the IANA port). Who may log
    /// in without TLS follows IMAP (Imap:AllowPlaintextLoginOnLoopback) unless ManageSieve sets it.</summary>
    public static ManageSieveServerOptions BindManageSieve(IConfiguration configuration, ImapServerOptions imap)
    {
        var options = new ManageSieveServerOptions { HostName = imap.HostName, AllowPlaintextLoginOnLoopback = imap.AllowPlaintextLoginOnLoopback };
        configuration.GetSection("ManageSieve").Bind(options);
        return WithListeners(options, new ManageSieveListenerOptions());
    }

    /// <summary>A section that names no listeners gets <paramref name="defaults"/>; one that names any keeps just those.</summary>
    private static TOptions WithListeners<TOptions, TListener>(TOptions options, params TListener[] defaults)
        where TOptions : ListeningOptions<TListener> where TListener : ListenerOptions
    {
        if (options.Listeners.Count == 0) options.Listeners.AddRange(defaults);
        return options;
    }
}
