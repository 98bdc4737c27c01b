using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Pipeline.Inbound;
using Mail.Storage.Azure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
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
        return services.AddMailCloud(azure, functions);
    }

    public static IServiceCollection AddMailCloud(this IServiceCollection services, AzureStorageOptions azure, FunctionsOptions functions)
    {
        azure.Validate();
        functions.Validate();
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
        services.AddSingleton(sp => new MailDirectory(sp.GetRequiredService<IStateStore>()));
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
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<InboundRunner>();
        services.AddSingleton(sp => new PoisonLog(clients.Tables.GetTableClient(functions.PoisonTable)));
        if (azure.QueueTransport == QueueTransports.ServiceBus)
            services.AddHostedService<ServiceBusInboundProcessor>();
        return services;
    }
}
