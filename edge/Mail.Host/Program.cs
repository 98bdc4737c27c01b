using Mail.Configuration;
using Mail.Core.Ports;
using Mail.Host;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

return await Cli.RunAsync(args);

namespace Mail.Host
{
    /// <summary>`mail` — the embedded mail system and its admin commands in one executable.</summary>
    public static class Cli
    {
        public const string Usage = """
            usage: mail [serve] [--data DIR] [--Section:Key=value ...]   run SMTP + IMAP + POP3 + delivery (default)
                   mail domain add DOMAIN [--data DIR]
                   mail domain list [--data DIR]
                   mail user add ADDRESS (--password PW | --password-stdin | --password-hash HASH) [--admin] [--data DIR]
                                        HASH: {SHA512-CRYPT}$6$..., $5$... (Dovecot/crypt) or pbkdf2-sha256$...
                   mail user list [--data DIR]                              each user, storage used and limit, "admin" for console administrators
                   mail user remove ADDRESS [--data DIR]                    the login goes; the stored mail stays
                   mail user admin ADDRESS on|off [--data DIR]              the web console's administrator role (also: user add ... --admin)
                   mail user quota ADDRESS SIZE [--data DIR]                storage limit: 500M, 2G, none (0), default (Quota:Default)
                   mail alias add ADDRESS|@DOMAIN TARGET... [--data DIR]
                   mail alias list [DOMAIN] [--data DIR]
                   mail alias remove ADDRESS|@DOMAIN [TARGET...] [--data DIR]
                   mail sieve put ADDRESS NAME FILE|- [--data DIR]             store a Sieve script (refused with its line when it does not compile)
                   mail sieve list|deactivate ADDRESS [--data DIR]          the user's scripts (the active one marked) / run none
                   mail sieve get|activate|remove ADDRESS NAME [--data DIR]
                   mail mailbox list ADDRESS [--mailbox NAME] [--data DIR]   messages, default INBOX
                   mail queue [--data DIR]                                  like mailq, with each outbound recipient's state
                   mail queue show QUEUEID [--data DIR]                     one envelope: recipients, replies, header
                   mail queue (hold|release|retry|delete) (QUEUEID|ALL) [--data DIR]   outbound: hold, release, deliver now, remove (no bounce)
                   mail quarantine list [--data DIR]                        messages held for an operator
                   mail quarantine release QUEUEID [--data DIR]             deliver a held message to INBOX
                   mail quarantine delete QUEUEID [--data DIR]
                   mail psl refresh [--url URL] [--data DIR]               download the Public Suffix List into the data directory
                   mail dkim add DOMAIN [--selector SEL] [--algorithm rsa|ed25519] [--data DIR]
                                        new signing key(s), RSA and Ed25519 by default; prints the DNS records
                   mail dkim list [DOMAIN] [--data DIR]                     the DNS records to publish (and to remove)
                   mail dkim rotate DOMAIN [--data DIR]                     new keys sign now; old ones stay published Dkim:RetiredKeyDays
                   mail trace QUEUEID|ADDRESS [--data DIR]                  what happened to a message, step by step (by address: each message from or to it)
                   mail dns check DOMAIN [--data DIR]                       the records to publish (zone-file lines) and what DNS answers now, each right or wrong
                   mail import postfix [--config-dir /etc/postfix] [--dovecot-users FILE] [--dry-run] [--data DIR]
                                        main.cf, its tables and a Dovecot passwd-file become settings, domains, users, aliases
                   mail backup DEST [--data DIR]                            a consistent copy of the data directory, while mail serve runs
                   mail restore SRC [--data DIR]                            a backup into a new or empty data directory
            Settings: appsettings.json next to the binary, MAIL_* environment variables, --Key=value.
            --verbose: on failure, the stack trace after the one-line error. Exit codes: docs/exit-codes.md.
            """;

        public static async Task<int> RunAsync(string[] args)
        {
            var positional = new List<string>();
            var configArgs = new List<string>();
            string? password = null;
            string? passwordHash = null;
            var passwordStdin = false;
            var consoleAdmin = false;
            var mailbox = "INBOX";
            var url = PublicSuffixRefresh.DefaultUrl;
            var verbose = false;
            string? selector = null;
            string? algorithm = null;
            var configDir = "/etc/postfix";
            string? dovecotUsers = null;
            var dryRun = false;
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                string? Next() => i + 1 < args.Length ? args[++i] : null;
                switch (a)
                {
                    case "--password":
                        password = Next() ?? "";
                        break;
                    case "--password-hash":
                        passwordHash = Next() ?? "";
                        break;
                    case "--admin":
                        consoleAdmin = true;
                        break;
                    case "--password-stdin":
                        passwordStdin = true;
                        break;
                    case "--url":
                        url = Next() ?? "";
                        break;
                    case "--selector":
                        selector = Next() ?? "";
                        break;
                    case "--algorithm":
                        algorithm = Next() ?? "";
                        break;
                    case "--config-dir":
                        configDir = Next() ?? "";
                        break;
                    case "--dovecot-users":
                        dovecotUsers = Next() ?? "";
                        break;
                    case "--dry-run":
                        dryRun = true;
                        break;
                    case "--mailbox":
                        mailbox = Next() ?? "INBOX";
                        break;
                    case "--data":
                        configArgs.Add("--data");
                        configArgs.Add(Next() ?? "");
                        break;
                    case "--verbose" or "-v":
                        verbose = true;
                        break;
                    case "-h" or "--help" or "help":
                        Console.WriteLine(Usage);
                        return 0;
                    default:
                        // "/Key=value" is a setting too, unless it names an existing file (mail sieve put ... /path/script.sieve).
                        // The directory of `mail backup DEST` / `mail restore SRC` is positional even when it does not exist yet.
                        var backupDirectory = positional is ["backup" or "restore"] && !a.StartsWith("--", StringComparison.Ordinal);
                        if (!backupDirectory && (a.StartsWith("--", StringComparison.Ordinal) || (a.StartsWith('/') && (a.Contains('=', StringComparison.Ordinal) || !File.Exists(a)))))
                        {
                            configArgs.Add(a);
                            // "--Key value" form: keep the value with its key.
                            if (!a.Contains('=', StringComparison.Ordinal) && i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                                configArgs.Add(args[++i]);
                        }
                        else
                        {
                            positional.Add(a);
                        }
                        break;
                }
            }

            IConfigurationRoot? configuration = null;
            try
            {
                configuration = HostSettings.Build(configArgs);
                var command = positional.Count == 0 ? "serve" : positional[0];
                if (command == "serve") return await ServeAsync(configuration);
                // Needs only the data directory, not the stores (so it works in cloud mode without Azure).
                if (command == "psl")
                    return positional.ElementAtOrDefault(1) == "refresh"
                        ? await new PublicSuffixRefresh(Console.Out, Console.Error).RunAsync(DataLayout.Open(configuration).Root, url)
                        : throw new UsageException($"unknown command '{string.Join(' ', positional)}'");
                // The data directory's files, not its stores: a backup opens no spool, a restore needs an empty target.
                if (command is "backup" or "restore")
                    return await BackupCommand(configuration, command, positional.Count == 2 ? positional[1] : throw new UsageException($"usage: mail {command} {(command == "backup" ? "DEST" : "SRC")} [--data DIR]"));
                var layout = DataLayout.Open(configuration);
                await using var stores = MailStores.Open(configuration, layout);
                var admin = new AdminCommands(stores, Console.Out, layout.Root);
                DkimCommands Dkim() => new(stores.Admin, Console.Out, layout.Root);
                SieveCommands Sieve() => new(stores.Admin, Console.Out);
                string Arg(int n) => positional.Count > n ? positional[n] : throw new UsageException($"missing argument for '{string.Join(' ', positional)}'");
                try
                {
                return (command, positional.ElementAtOrDefault(1)) switch
                {
                    ("domain", "add") => await admin.DomainAddAsync(Arg(2)),
                    ("domain", "list") => await admin.DomainListAsync(),
                    ("user", "add") when passwordHash is not null => password is null && !passwordStdin
                        ? await admin.UserAddWithHashAsync(Arg(2), passwordHash, consoleAdmin)
                        : throw new UsageException("--password-hash cannot be combined with --password or --password-stdin"),
                    ("user", "add") => await admin.UserAddAsync(Arg(2), ReadPassword(password, passwordStdin), consoleAdmin),
                    ("user", "remove") => await admin.UserRemoveAsync(Arg(2)),
                    ("user", "admin") => await admin.UserAdminAsync(Arg(2), Arg(3)),
                    ("user", "list") => await admin.UserListAsync(),
                    ("alias", "add") => await new AliasCommands(stores.Admin, Console.Out).AddAsync(Arg(2), positional.Skip(3).ToList()),
                    ("alias", "list") => await new AliasCommands(stores.Admin, Console.Out).ListAsync(positional.ElementAtOrDefault(2)),
                    ("alias", "remove") => await new AliasCommands(stores.Admin, Console.Out).RemoveAsync(Arg(2), positional.Skip(3).ToList()),
                    ("sieve", "put") => await Sieve().PutAsync(Arg(2), Arg(3), Arg(4)),
                    ("sieve", "list") => await Sieve().ListAsync(Arg(2)),
                    ("sieve", "get") => await Sieve().GetAsync(Arg(2), Arg(3)),
                    ("sieve", "activate") => await Sieve().ActivateAsync(Arg(2), Arg(3)),
                    ("sieve", "deactivate") => await Sieve().DeactivateAsync(Arg(2)),
                    ("sieve", "remove") => await Sieve().RemoveAsync(Arg(2), Arg(3)),
                    ("user", "quota") => await admin.UserQuotaAsync(Arg(2), Arg(3)),
                    ("mailbox", "list") => await admin.MailboxListAsync(Arg(2), mailbox),
                    ("queue", "show") => await admin.QueueShowAsync(Arg(2)),
                    ("queue", "hold" or "release" or "retry" or "delete") => await admin.QueueActionAsync(positional[1], Arg(2)),
                    ("queue", null) => await admin.QueueAsync(),
                    ("quarantine", "list") => await admin.QuarantineListAsync(),
                    ("quarantine", "release") => await admin.QuarantineReleaseAsync(Arg(2)),
                    ("quarantine", "delete") => await admin.QuarantineDeleteAsync(Arg(2)),
                    ("dkim", "add") => await Dkim().AddAsync(Arg(2), selector, algorithm),
                    ("dkim", "list") => await Dkim().ListAsync(positional.ElementAtOrDefault(2)),
                    ("dkim", "rotate") => await Dkim().RotateAsync(Arg(2)),
                    ("trace", _) => await admin.TraceAsync(Arg(1)),
                    ("dns", "check") => await DnsCheckAsync(configuration, stores, Arg(2)),
                    ("import", "postfix") => await new Import.PostfixImport(stores, layout.Root, DnsSettings.BuildResolver(configuration), Console.Out).RunAsync(configDir, dovecotUsers, dryRun),
                    _ => throw new UsageException($"unknown command '{string.Join(' ', positional)}'"),
                };
                }
                finally
                {
                    // A running server keeps domains, users, aliases, limits and scripts in memory: told, it reads them
                    // again before this command returns (without a server, or an older one, nothing to do).
                    if (layout.State.WatchedWrites > 0) await ControlSocket.RequestAsync(layout.Root, ControlCommand.State, AdminCommands.ControlTimeout);
                }
            }
            catch (Exception e)
            {
                // Every failure, of a command or of `mail serve`, ends here: one line and a documented exit code.
                var code = Failure.Report(e, configuration, Console.Error, verbose);
                if (e is UsageException) Console.Error.WriteLine(Usage);
                return code;
            }
        }

        private static async Task<int> DnsCheckAsync(IConfiguration configuration, MailStores stores, string domain)
        {
            var dns = DnsSettings.BuildResolver(configuration);
            using var policies = DnsCommands.PolicyClient(ServeSettings.BindOutbound(configuration), dns);
            return await new DnsCommands(new Mail.Admin.Dns.DnsHelper(dns, DnsCommands.Profile(configuration), stores.Admin, policies), Console.Out).CheckAsync(domain);
        }

        /// <summary>Builds the meter provider now (it opens the Prometheus listener), so a port in use or an address not
        /// ours is one line naming Metrics:Endpoint before any mail listener opens.</summary>
        private static void StartTelemetry(IServiceProvider services, System.Net.IPEndPoint? metrics)
        {
            try
            {
                services.GetService<OpenTelemetry.Metrics.MeterProvider>();
                services.GetService<OpenTelemetry.Trace.TracerProvider>();
            }
            catch (Exception e) when (metrics is not null && FindListenerError(e) is { } listener)
            {
                throw new HostFailureException(ExitCodes.IoError, $"metrics {metrics}", listener.Message, TelemetrySettings.MetricsEndpointSetting, e);
            }
        }

        private static Exception? FindListenerError(Exception e)
        {
            for (Exception? x = e; x is not null; x = x.InnerException)
                if (x is System.Net.HttpListenerException or System.Net.Sockets.SocketException) return x;
            return null;
        }

        private static Task<int> BackupCommand(IConfigurationRoot configuration, string command, string directory)
        {
            if (string.Equals(configuration["Mode"]?.Trim(), MailStores.Cloud, StringComparison.OrdinalIgnoreCase))
                throw new ConfigurationException($"Mode: mail {command} works on the embedded data directory; in cloud mode Azure storage keeps the data (back it up there)");
            var data = configuration["DataDirectory"] is { Length: > 0 } d && !string.IsNullOrWhiteSpace(d) ? d : "./data";
            return command == "backup"
                ? new Backup.DataBackup(data, Console.Out).RunAsync(directory)
                : new Backup.DataRestore(data, Console.Out).RunAsync(directory);
        }

        private static string ReadPassword(string? password, bool fromStdin)
        {
            if (password is not null) return password;
            if (!fromStdin && !Console.IsInputRedirected) Console.Error.Write("password: ");
            return (Console.In.ReadLine() ?? "").TrimEnd('\r', '\n');
        }

        private static async Task<int> ServeAsync(IConfigurationRoot configuration)
        {
            var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
            {
                DisableDefaults = true,
                ContentRootPath = AppContext.BaseDirectory,
            });
            HostSettings.AddTo(builder.Configuration, configuration);
            builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            });
            // The host logs start failures with a stack trace; ours are reported as one line below.
            builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
            var data = DataLayout.Open(builder.Configuration);
            // Later readers (the refreshed Public Suffix List) find the data directory even when it was the default.
            builder.Configuration["DataDirectory"] = data.Root;
            // For what is built before the host (settings, the edge policy): the same console, for the process's life.
            using var loggers = LoggerFactory.Create(l => l.AddConfiguration(builder.Configuration.GetSection("Logging")).AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            }));
            var settings = await ServeSettings.LoadAsync(builder.Configuration, data, loggers.CreateLogger("Mail.Host"));
            data.State.CacheReads(settings.DirectoryCacheTtl);
            // Before the first socket exists (the Azure clients, the listeners): the runtime reads it once. When the
            // variable is already set, the operator's choice stands.
            if (settings.InlineSocketCompletions && Environment.GetEnvironmentVariable(ServeSettings.InlineCompletionsVariable) is null)
                Environment.SetEnvironmentVariable(ServeSettings.InlineCompletionsVariable, "1");
            await using var stores = MailStores.Open(builder.Configuration, data);
            var dns = DnsSettings.BuildResolver(builder.Configuration);
            builder.Services.AddSingleton(settings);
            builder.Services.AddSingleton(stores);
            builder.Services.AddSingleton<IDnsResolver>(dns);
            builder.Services.AddSingleton(await EdgePolicy.BuildAsync(builder.Configuration, dns, stores, loggers.CreateLogger("Mail.Defences")));
            // The inbound stage's checks, in order: SPF/DKIM/ARC/DMARC, header and body checks, spam score.
            foreach (var check in InboundChecks.Build(builder.Configuration, dns, stores.State, settings.Smtp.HostName))
                builder.Services.AddSingleton(check);
            // The outbound stage's DKIM signer: our domains' keys (mail dkim add), none where keys have no store.
            builder.Services.AddSingleton(DkimSettings.BuildSigner(stores.DkimKeys));
            builder.Services.AddSingleton(DkimSettings.BuildSealer(stores.DkimKeys));
            // OpenTelemetry before MailService, so the meter and sources are subscribed when the listeners open.
            var metrics = TelemetrySettings.MetricsEndpoint(builder.Configuration);
            Action<MeterProviderBuilder>? prometheus = null;
            if (metrics is { } endpoint) prometheus = m => m.AddPrometheusHttpListener(o =>
            {
                o.Host = TelemetrySettings.HostText(endpoint);
                o.Port = endpoint.Port;
                o.ScrapeResponseCacheDurationMilliseconds = 0; // every scrape reads the instruments now
            });
            var telemetry = builder.Services.AddMailTelemetry(builder.Logging, builder.Configuration, "mail", prometheus);
            // Admin:Endpoint: the web console (docs/console.md), started before the mail listeners.
            if (Mail.WebConsole.ConsoleSettings.Load(builder.Configuration, settings.Smtp.Certificate) is { } console)
            {
                // The helper's policy client lives as long as the process (one HttpClient, as the outbound stage's);
                // created by the container, so the container disposes it.
                builder.Services.AddSingleton(_ => DnsCommands.PolicyClient(settings.Outbound, dns));
                // One instance: MailService puts its pages on the one HTTP host; as a hosted service it keeps the top
                // rejected lists (read at start, written at stop).
                builder.Services.AddSingleton(s => new Mail.WebConsole.ConsoleServer(console, stores.Admin, s.GetRequiredService<ILoggerFactory>(),
                    new Mail.Admin.Dns.DnsHelper(dns, DnsCommands.Profile(settings), stores.Admin,
                        s.GetRequiredService<Mail.Outbound.Tls.MtaSts.MtaStsPolicyClient>()), stores.State,
                    // The path `mail queue` takes: the control socket of the server on this data directory (this
                    // process when it runs the outbound stage), so a queue action has taken effect when the page returns.
                    async _ => await ControlSocket.RequestAsync(data.Root, ControlCommand.Queue, AdminCommands.ControlTimeout) is not null));
                builder.Services.AddHostedService(s => s.GetRequiredService<Mail.WebConsole.ConsoleServer>());
            }
            builder.Services.AddHostedService<MailService>();
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
            using var host = builder.Build();
            if (telemetry) StartTelemetry(host.Services, metrics);
            await host.RunAsync();
            return 0;
        }
    }

    public sealed class UsageException(string message) : Exception(message);
}
