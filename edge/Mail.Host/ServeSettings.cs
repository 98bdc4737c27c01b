using Mail.Imap;
using Mail.Pipeline.Local;
using Mail.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Mail.Host;

/// <summary>Everything `mail serve` needs from configuration, bound and validated before anything starts,
/// so a bad setting is one clear line naming it rather than a half-started server.</summary>
public sealed record ServeSettings(SmtpServerOptions Smtp, ImapServerOptions Imap, bool ImapEnabled, LocalWorkerOptions Worker, bool WorkerEnabled)
{
    public static ServeSettings Load(IConfiguration configuration, DataLayout data, ILogger log)
    {
        var smtp = BindSmtp(configuration);
        var imap = BindImap(configuration);
        // The IMAP gateway's on-disk FETCH cache (ENVELOPE, BODYSTRUCTURE) lives beside the data; safe to delete.
        imap.CacheDirectory ??= Path.Combine(data.Root, "imap-cache");
        var imapEnabled = configuration.GetValue("Imap:Enabled", true);
        var worker = BindWorker(configuration);
        worker.Validate();
        var certificate = TlsCertificate.Load(configuration, data, smtp.HostName, log);
        smtp.Certificate = certificate;
        imap.Certificate = certificate;
        smtp.Validate();
        if (imapEnabled) imap.Validate();
        var embedded = !string.Equals(configuration["Mode"]?.Trim(), MailStores.Cloud, StringComparison.OrdinalIgnoreCase);
        var maintenanceInterval = configuration.GetValue("Maintenance:Interval", TimeSpan.FromMinutes(5));
        if (maintenanceInterval <= TimeSpan.Zero)
            throw new ConfigurationException($"Maintenance:Interval must be positive (got '{configuration["Maintenance:Interval"]}')");
        var quarantineRetention = configuration.GetValue("Maintenance:QuarantineRetention", Mail.Pipeline.Maintenance.MaintenanceStage.DefaultQuarantineRetention);
        if (quarantineRetention <= TimeSpan.Zero)
            throw new ConfigurationException($"Maintenance:QuarantineRetention must be positive (got '{configuration["Maintenance:QuarantineRetention"]}')");
        return new ServeSettings(smtp, imap, imapEnabled, worker, configuration.GetValue("Worker:Enabled", embedded))
        {
            // In cloud mode the Functions app's timer does maintenance; the edge need not.
            MaintenanceEnabled = configuration.GetValue("Maintenance:Enabled", embedded),
            MaintenanceInterval = maintenanceInterval,
            QuarantineRetention = quarantineRetention,
        };
    }

    /// <summary>Run <see cref="Mail.Pipeline.Maintenance.MaintenanceStage"/> periodically ("Maintenance:Enabled", default true in embedded mode).</summary>
    public bool MaintenanceEnabled { get; init; }

    /// <summary>"Maintenance:Interval", default 5 minutes.</summary>
    public TimeSpan MaintenanceInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>"Maintenance:QuarantineRetention", default 30 days: quarantined messages older than this are deleted.</summary>
    public TimeSpan QuarantineRetention { get; init; } = Mail.Pipeline.Maintenance.MaintenanceStage.DefaultQuarantineRetention;

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
        if (options.Listeners.Count == 0)
        {
            options.Listeners.Add(new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:2525", Role = SmtpListenerRole.Mx });
            options.Listeners.Add(new SmtpListenerOptions { Name = "submission", Endpoint = "127.0.0.1:2587", Role = SmtpListenerRole.Submission });
            options.Listeners.Add(new SmtpListenerOptions { Name = "submissions", Endpoint = "127.0.0.1:2465", Role = SmtpListenerRole.Submission, ImplicitTls = true });
        }
        return options;
    }

    public static ImapServerOptions BindImap(IConfiguration configuration)
    {
        var options = new ImapServerOptions();
        configuration.GetSection("Imap").Bind(options);
        if (options.Listeners.Count == 0)
        {
            options.Listeners.Add(new ImapListenerOptions { Name = "imap", Endpoint = "127.0.0.1:2143" });
            options.Listeners.Add(new ImapListenerOptions { Name = "imaps", Endpoint = "127.0.0.1:2993", ImplicitTls = true });
        }
        return options;
    }
}
