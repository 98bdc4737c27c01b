using System.Net;
using Mail.Core.Ports;
using Mail.Outbound;
using Mail.Core.Listening;
using Mail.Imap;
using Mail.ManageSieve;
using Mail.Pop3;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Pipeline.Local;
using Mail.Pipeline.Maintenance;
using Mail.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mail.Host;

/// <summary>
/// `mail serve`: the whole system in one process. Starts the SMTP edge, the IMAP and POP3 gateways and the local
/// worker over the embedded stores. On SIGTERM/Ctrl+C: listeners stop first (SMTP sessions get 421), then the
/// worker stops receiving and finishes what it holds.
/// </summary>
/// <param name="console">The web console (Admin:Endpoint), a part of the one HTTP host; null when not set.</param>
public sealed class MailService(ServeSettings settings, MailStores data, IEnumerable<IInboundCheck> checks, IDnsResolver dns, EdgePolicy edgePolicy, ILoggerFactory loggerFactory,
    IOutboundSigner? signer = null, IForwardSealer? sealer = null, Mail.WebConsole.ConsoleServer? console = null) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _log = loggerFactory.CreateLogger("Mail.Host");
    private readonly CancellationTokenSource _stopWorker = new();
    private SmtpServer? _smtp;
    private ImapServer? _imap;
    private Pop3Server? _pop3;
    private ManageSieveServer? _manageSieve;
    private Task? _worker;
    private Task? _outbound;
    private OutboundStage? _outboundStage;
    private Task? _maintenance;
    private Task? _gauges;
    private Task? _certificateReload;
    private Http.HttpHost? _http;
    private Task? _acme;
    private ControlSocket? _control;
    private Mail.Core.Queues.InFlowControl? _inFlow;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var (smtpOptions, imapOptions, workerOptions) = (settings.Smtp, settings.Imap, settings.Worker);
        // Checks (SPF, DKIM, DMARC, ...) run in registration order: services.AddSingleton<IInboundCheck, X>() in Program.
        var stage = new InboundStage(data.Messages, data.Mailboxes, data.Directory, data.Outbound, checks, loggerFactory.CreateLogger<InboundStage>(), data.State, sealer: sealer, quotas: data.Quotas);
        var worker = new LocalWorker(data.Inbound, stage, workerOptions, loggerFactory.CreateLogger<LocalWorker>());
        // In-flow control only where this process delivers what its edge accepts: an edge alone (Worker:Enabled=false) or
        // in cloud mode has no worker of its own to wait for.
        if (settings.WorkerEnabled && data.LocalBacklog is { } backlog && smtpOptions.InFlowDelay > TimeSpan.Zero)
            _inFlow = new Mail.Core.Queues.InFlowControl(backlog, smtpOptions.InFlowBacklog, smtpOptions.InFlowDelay);
        _smtp = new SmtpServer(smtpOptions, new SmtpServices
        {
            MessageStore = data.EdgeMessages,
            InboundQueue = data.Inbound,
            Directory = data.Directory,
            State = data.State,
            Dns = dns,
            Policy = edgePolicy.Policy,
            Spf = edgePolicy.Spf,
            Quotas = data.Quotas,
            InFlow = _inFlow,
        }, loggerFactory);
        await _smtp.StartAsync(cancellationToken);
        // RCPT's answers follow the directory as the state store's own cache does: this server's writes (console,
        // ManageSieve) and a `mail` command's STATE on the control socket drop them.
        (data.State as Mail.Storage.Embedded.SqliteStateStore)?.AlsoForget(_smtp.ForgetDirectoryAnswers);
        // One failed-login counter for IMAP, POP3 and ManageSieve (Imap:MaxFailedLogins, Imap:FailedLoginWindow): a client guessing
        // passwords over both meets one limit, as with Dovecot's auth penalty.
        var throttle = new LoginThrottle(imapOptions.MaxFailedLogins, imapOptions.FailedLoginWindow, TimeProvider.System);
        if (settings.ImapEnabled)
        {
            _imap = new ImapServer(imapOptions, new ImapServices { Mailboxes = data.Mailboxes, Messages = data.Messages, Directory = data.Directory, Quotas = data.Quotas, Throttle = throttle }, loggerFactory);
            await _imap.StartAsync(cancellationToken);
        }
        if (settings.Pop3Enabled)
        {
            _pop3 = new Pop3Server(settings.Pop3, new Pop3Services { Mailboxes = data.Mailboxes, Messages = data.Messages, Directory = data.Directory, Throttle = throttle }, loggerFactory);
            await _pop3.StartAsync(cancellationToken);
        }
        if (settings.ManageSieveEnabled)
        {
            _manageSieve = new ManageSieveServer(settings.ManageSieve, new ManageSieveServices { Directory = data.Directory, Throttle = throttle }, loggerFactory);
            await _manageSieve.StartAsync(cancellationToken);
        }
        await StartHttpAsync(cancellationToken);
        // Worker:Enabled=false runs the edge alone (the queue fills; another process or a later start delivers).
        OutboundWorker? queueCommands = null;
        if (settings.WorkerEnabled)
        {
            _worker = Task.Run(() => worker.RunAsync(_stopWorker.Token), CancellationToken.None);
            _outboundStage = OutboundFor(data, settings, _smtp, dns, signer, loggerFactory);
            var outboundWorker = new OutboundWorker(data.Outbound, _outboundStage, settings.Outbound, loggerFactory.CreateLogger<OutboundWorker>(), control: new QueueControl(data.State));
            _outbound = Task.Run(() => outboundWorker.RunAsync(_stopWorker.Token), CancellationToken.None);
            queueCommands = outboundWorker;
        }
        if (settings.DataRoot is { } root)
            _control = ControlSocket.Start(root, (command, ct) => ControlAsync(command, queueCommands, ct), _log);
        // mail.queue.depth / oldest_age: the queues listed every 15 s, only when a meter provider reads them, by the process
        // that runs the stages (in cloud mode the Functions app's maintenance pass samples them).
        if (settings.WorkerEnabled && Core.Telemetry.MailTelemetry.QueuesObserved)
            _gauges = Task.Run(() => Core.Queues.QueueGauges.RunAsync([("inbound", data.Inbound), ("outbound", data.Outbound)], TimeSpan.FromSeconds(15), TimeProvider.System, _log, _stopWorker.Token),
                CancellationToken.None);
        if (settings.MaintenanceEnabled)
        {
            var maintenance = new MaintenanceStage(data.State, TimeProvider.System, loggerFactory.CreateLogger<MaintenanceStage>(), data.Messages, settings.QuarantineRetention);
            _maintenance = Task.Run(() => maintenance.RunPeriodicallyAsync(settings.MaintenanceInterval, _stopWorker.Token), CancellationToken.None);
        }

        if (settings.CertificateReloader is { } reloader)
            _certificateReload = Task.Run(() => reloader.RunAsync(_stopWorker.Token), CancellationToken.None);
        if (settings.Acme is { } renewer)
            _acme = Task.Run(() => renewer.RunAsync(_stopWorker.Token), CancellationToken.None);

        var domains = await data.Directory.ListDomainsAsync(cancellationToken);
        if (domains.Count == 0)
        {
            // Deliberately no default domain: accepting mail for a domain nobody chose would be a surprise.
            _log.LogWarning("No local domain yet, so every recipient is refused. Add one and a user: `mail domain add example.org`, then `mail user add alice@example.org --password-stdin` (with --data DIR when DataDirectory is not the default)");
        }
        foreach (var domain in domains)
        {
            // RFC 5321 4.5.1 and RFC 2142: say who reads them, since nobody set them up.
            if (await data.Directory.PostmasterAsync(domain, cancellationToken) is { } postmaster)
                _log.LogInformation("postmaster@{Domain} and abuse@{Domain} are delivered to {User} (Domains:PostmasterAddress)", domain, domain, postmaster);
            else
                _log.LogWarning("postmaster@{Domain} and abuse@{Domain} are refused: the domain has no user yet (RFC 5321 requires postmaster); add one, or set Domains:PostmasterAddress", domain, domain);
        }
        foreach (var (name, ep) in _smtp.BoundEndpoints) Console.WriteLine($"listening smtp {name} {ep}");
        if (_imap is not null) foreach (var (name, ep) in _imap.BoundEndpoints) Console.WriteLine($"listening imap {name} {ep}");
        if (_pop3 is not null) foreach (var (name, ep) in _pop3.BoundEndpoints) Console.WriteLine($"listening pop3 {name} {ep}");
        if (_manageSieve is not null) foreach (var (name, ep) in _manageSieve.BoundEndpoints) Console.WriteLine($"listening managesieve {name} {ep}");
        if (_http?.BoundEndpoint(Mail.WebConsole.ConsoleOptions.EndpointSetting) is { } admin) Console.WriteLine($"listening {(console!.Options.UsesTls ? "https" : "http")} console {admin}");
        if (_http?.BoundEndpoint(Http.Autoconfig.AutoconfigServer.EndpointSetting) is { } http) Console.WriteLine($"listening http autoconfig {http}");
        if (_http?.BoundEndpoint(Http.Autoconfig.AutoconfigServer.HttpsEndpointSetting) is { } https) Console.WriteLine($"listening https autoconfig+mta-sts {https}");
        if (settings.Acme is not null && _http?.BoundEndpoint(Http.Acme.AcmeHttpResponder.EndpointSetting) is { } acmeHttp) Console.WriteLine($"listening http acme-challenge {acmeHttp}");
        if (data.DroppedAtLoad > 0)
            _log.LogWarning("{Count} queued envelope(s) dropped: their message never reached the disk before a crash, so they were never acknowledged with 250", data.DroppedAtLoad);
        // What the runtime actually does: the operator's environment variable may have overridden the setting.
        var inline = Environment.GetEnvironmentVariable(ServeSettings.InlineCompletionsVariable) == "1";
        Console.WriteLine($"mail serve ready; mode {data.Mode}; queued {data.LocalQueueCount?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "n/a"}; socket completions {(inline ? "inline" : "pooled")}");
    }

    /// <summary>The one Kestrel host for the console, autoconfiguration with the MTA-STS policy, and the ACME HTTP-01
    /// responder, each on its listener (autoconfig and ACME share port 80 by default).</summary>
    private async Task StartHttpAsync(CancellationToken cancellationToken)
    {
        if (console is null && settings.AutoconfigEndpoint is null && settings.AutoconfigHttpsEndpoint is null && settings.Acme is null) return;
        var http = _http = new Http.HttpHost(); // disposed at stop
        if (console is not null)
            http.Add("console", console.Options.Endpoint, Mail.WebConsole.ConsoleOptions.EndpointSetting, console.Options.UsesTls ? console.Options.Certificate : null,
                console.Map, console.GuardAsync);
        var documents = new Http.Autoconfig.AutoconfigDocuments(Http.Autoconfig.ClientServers.From(settings));
        void Autoconfig(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder routes)
        {
            Http.Autoconfig.AutoconfigServer.Map(routes, documents, data.Directory, loggerFactory.CreateLogger("Mail.Host.Autoconfig"));
            if (settings.AutoconfigHttpsEndpoint is not null && settings.MtaSts is { } mtaSts)
                Http.Autoconfig.AutoconfigServer.MapMtaSts(routes, mtaSts, data.Directory, loggerFactory.CreateLogger("Mail.Host.MtaSts"));
        }
        if (settings.AutoconfigEndpoint is { } plain)
            http.Add("autoconfig", plain, Http.Autoconfig.AutoconfigServer.EndpointSetting, null, Autoconfig, Http.Autoconfig.AutoconfigServer.LimitBodyAsync);
        if (settings.AutoconfigHttpsEndpoint is { } https)
            http.Add("autoconfig", https, Http.Autoconfig.AutoconfigServer.HttpsEndpointSetting, settings.Smtp.Certificate, Autoconfig, Http.Autoconfig.AutoconfigServer.LimitBodyAsync);
        if (settings.Acme is { } acme)
            http.Add("acme", acme.Settings.HttpEndpoint, Http.Acme.AcmeHttpResponder.EndpointSetting, null,
                routes => Http.Acme.AcmeHttpResponder.Map(routes, acme.Challenges, loggerFactory.CreateLogger("Mail.Host.Acme")));
        await http.StartAsync(cancellationToken);
    }

    /// <summary>What a `mail` command asks through the control socket: its change is in the state store already.</summary>
    private async Task<string> ControlAsync(ControlCommand command, OutboundWorker? outbound, CancellationToken cancellationToken)
    {
        switch (command)
        {
            case ControlCommand.Queue:
                if (outbound is null) throw new InvalidOperationException("this server runs no outbound worker (Worker:Enabled=false or cloud mode)");
                var applied = await outbound.ApplyCommandsNowAsync(cancellationToken);
                return $"applied {applied.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
            case ControlCommand.Dkim:
                data.DkimKeys.Forget();
                return "dkim keys read again";
            case ControlCommand.State:
                (data.State as Mail.Storage.Embedded.SqliteStateStore)?.ForgetCachedReads();
                return "directory read again";
            default:
                throw new InvalidOperationException($"unknown control command {command}");
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_control is not null) await _control.DisposeAsync();
        _control = null;
        if (_smtp is not null) await _smtp.StopAsync(cancellationToken);
        if (_imap is not null) await _imap.StopAsync(cancellationToken);
        if (_pop3 is not null) await _pop3.StopAsync(cancellationToken);
        if (_manageSieve is not null) await _manageSieve.StopAsync(cancellationToken);
        if (_http is not null)
        {
            await _http.StopAsync(cancellationToken);
            await _http.DisposeAsync();
        }
        await _stopWorker.CancelAsync();
        if (_worker is not null) await _worker.WaitAsync(cancellationToken);
        if (_outbound is not null) await _outbound.WaitAsync(cancellationToken);
        if (_maintenance is not null) await _maintenance.WaitAsync(cancellationToken);
        if (_gauges is not null) await _gauges.WaitAsync(cancellationToken);
        if (_certificateReload is not null) await _certificateReload.WaitAsync(cancellationToken);
        if (_acme is not null) await _acme.WaitAsync(cancellationToken);
        if (_smtp is not null) await _smtp.DisposeAsync();
        if (_imap is not null) await _imap.DisposeAsync();
        if (_pop3 is not null) await _pop3.DisposeAsync();
        if (_manageSieve is not null) await _manageSieve.DisposeAsync();
        if (_outboundStage is not null) await _outboundStage.DisposeAsync();
        _inFlow?.Dispose();
        _log.LogInformation("Stopped; {Count} envelope(s) left in the local inbound queue", data.LocalQueueCount);
    }

    /// <summary>StopAsync disposes the servers once their sessions have ended; what is left is the stop signal.</summary>
    public ValueTask DisposeAsync()
    {
        _stopWorker.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The outbound stage over this process's stores. Delivery status notifications go through an inbound stage without
    /// checks: into the sender's mailbox when the sender is local, else back to the outbound queue.
    /// </summary>
    public static OutboundStage OutboundFor(MailStores data, ServeSettings settings, SmtpServer smtp, IDnsResolver dns, IOutboundSigner? signer, ILoggerFactory loggerFactory)
    {
        // The state store: a notice's steps are traced too (mail trace ID-dsn-...); with no checks nothing is ever quarantined.
        var notices = new InboundStage(data.Messages, data.Mailboxes, data.Directory, data.Outbound, [], loggerFactory.CreateLogger<InboundStage>(), data.State);
        var own = smtp.BoundEndpoints.Values.ToList();
        var identity = new OutboundIdentity(settings.Smtp.HostName,
            ep => own.Any(o => o.Port == ep.Port && (o.Address.Equals(ep.Address) || (o.Address.Equals(IPAddress.Any) || o.Address.Equals(IPAddress.IPv6Any)))),
            (domain, ct) => data.Directory.IsLocalDomainAsync(domain, ct));
        return new OutboundStage(data.Messages, dns, settings.Outbound, identity, signer ?? NoOutboundSigner.Instance, data.State,
            async (notice, ct) =>
            {
                var result = await notices.ProcessAsync(notice, ct);
                if (result.OriginalDone) await notices.DeleteOriginalAsync(notice, ct);
            },
            loggerFactory.CreateLogger<OutboundStage>());
    }
}
