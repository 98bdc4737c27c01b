using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Outbound;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Storage.Azure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Service registrations of the cloud pipeline, from configuration sections "Azure" (<see cref="AzureStorageOptions"/>)
/// and "Functions" (<see cref="FunctionsOptions"/>). When Azure:ConnectionString is not set but the trigger connection
/// "MailStorage" is a connection string, that one is used, so Azurite needs one setting.
/// Inbound checks are whatever <see cref="IInboundCheck"/>s are registered (Program.cs adds SPF, DKIM, ARC, DMARC and the Defences checks).
/// </summary>
public static class CloudServices
{
    public static IServiceCollection AddMailCloud(this IServiceCollection services, IConfiguration configuration)
    {
        var azure = new AzureStorageOptions();
        configuration.GetSection("Azure").Bind(azure);
        if (azure.ConnectionString is null && azure.BlobServiceUri is null && configuration[QueueNames.Connection] is { Length: > 0 } cs)
            azure.ConnectionString = cs;
        var functions = new FunctionsOptions();
        configuration.GetSection("Functions").Bind(functions);
        var outbound = new OutboundOptions();
        if (configuration[$"{OutboundOptions.SectionName}:CommandTimeout"] is not null)
            throw new Mail.Configuration.SettingsException(OutboundTimeouts.CommandTimeoutRetired);
        configuration.GetSection(OutboundOptions.SectionName).Bind(outbound);
        // The outbound stage resolves MX records with the same Dns settings as the inbound checks (Program registers that
        // resolver first; this one is for hosts that do not).
        services.TryAddSingleton<IDnsResolver>(_ => Mail.Configuration.DnsSettings.BuildResolver(configuration));
        // Quota:Default, read now so a bad value stops the app at start naming the setting; the inbound stage logs a
        // delivery that takes a user over their limit (the edge refuses what does not fit before 250).
        var defaultQuota = Mail.Configuration.QuotaSettings.DefaultLimit(configuration);
        services.TryAddSingleton(sp => new UserQuotas(sp.GetRequiredService<IStateStore>(), sp.GetRequiredService<IMailboxStore>(), defaultQuota));
        return services.AddMailCloud(azure, functions, outbound, configuration["Smtp:HostName"] ?? Environment.MachineName, Mail.Configuration.RecipientSettings.Bind(configuration));
    }

    public static IServiceCollection AddMailCloud(this IServiceCollection services, AzureStorageOptions azure, FunctionsOptions functions,
        OutboundOptions? outbound = null, string? hostName = null, RecipientRules? recipients = null)
    {
        azure.Validate();
        functions.Validate();
        outbound ??= new OutboundOptions();
        outbound.Validate();
        var clients = AzureClients.Create(azure);
        if (clients.Queues is null)
            throw new AzureConfigurationException("Azure:QueueServiceUri (or Azure:ConnectionString) is required: the Functions triggers read Storage Queues.");
        services.AddSingleton(azure);
        services.AddSingleton(functions);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => AzureAdapters.Create(azure, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => sp.GetRequiredService<AzureAdapters>().MessageStore);
        services.AddSingleton(sp => sp.GetRequiredService<AzureAdapters>().MailboxStore);
        services.AddSingleton(sp => sp.GetRequiredService<AzureAdapters>().StateStore);
        services.AddSingleton(sp => new MailDirectory(sp.GetRequiredService<IStateStore>())
        {
            Recipients = recipients ?? RecipientRules.Default,
            // SRS needs a secret store: Program registers one when Dkim:KeyEncryptionKey is set.
            Srs = sp.GetService<Mail.Core.Forwarding.SenderRewriting>(),
        });
        services.AddSingleton(sp => new FunctionQueues(
            new StorageQueueMessageQueue(clients.Queues.GetQueueClient(QueueNames.Inbound)),
            new StorageQueueMessageQueue(clients.Queues.GetQueueClient(QueueNames.Outbound))));
        services.AddSingleton(sp => new InboundStage(
            sp.GetRequiredService<IMessageStore>(),
            sp.GetRequiredService<IMailboxStore>(),
            sp.GetRequiredService<MailDirectory>(),
            sp.GetRequiredService<AzureAdapters>().OutboundQueue,
            sp.GetServices<IInboundCheck>(),
            sp.GetService<ILogger<InboundStage>>(),
            // With the state store a Quarantine verdict holds the message for an operator instead of filing it to Junk.
            sp.GetRequiredService<IStateStore>(),
            sp.GetRequiredService<TimeProvider>(),
            quotas: sp.GetService<UserQuotas>()));
        services.AddSingleton<InboundRunner>();
        services.AddSingleton(sp => OutboundFor(sp, outbound, hostName ?? Environment.MachineName));
        services.AddSingleton(sp => new PoisonLog(clients.Tables.GetTableClient(functions.PoisonTable)));
        if (azure.QueueTransport == QueueTransports.ServiceBus)
            services.AddHostedService<ServiceBusInboundProcessor>();
        return services;
    }

    /// <summary>
    /// The outbound stage over the cloud stores. The edge runs elsewhere, so no endpoint of this process is "us"; our
    /// domains are the directory's. DSNs go through an inbound stage without checks: a local sender's into their
    /// mailbox, others back to the outbound queue.
    /// </summary>
    public static OutboundStage OutboundFor(IServiceProvider sp, OutboundOptions options, string hostName)
    {
        var messages = sp.GetRequiredService<IMessageStore>();
        var directory = sp.GetRequiredService<MailDirectory>();
        var queue = sp.GetRequiredService<AzureAdapters>().OutboundQueue;
        var notices = new InboundStage(messages, sp.GetRequiredService<IMailboxStore>(), directory, queue, [], sp.GetService<ILogger<InboundStage>>());
        var identity = new OutboundIdentity(hostName, _ => false, (domain, ct) => directory.IsLocalDomainAsync(domain, ct));
        return new OutboundStage(messages, sp.GetRequiredService<IDnsResolver>(), options, identity, sp.GetService<IOutboundSigner>(), sp.GetRequiredService<IStateStore>(),
            async (notice, ct) =>
            {
                var result = await notices.ProcessAsync(notice, ct);
                if (result.OriginalDone) await notices.DeleteOriginalAsync(notice, ct);
            },
            sp.GetService<ILogger<OutboundStage>>(), sp.GetRequiredService<TimeProvider>());
    }
}
