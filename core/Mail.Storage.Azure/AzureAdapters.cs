using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Messaging.ServiceBus;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Mail.Core.Ports;

namespace Mail.Storage.Azure;

/// <summary>
/// The cloud adapters of every port, created once from <see cref="AzureStorageOptions"/>: wiring cloud mode is
/// <c>var azure = AzureAdapters.Create(options);</c> and then using its properties. Dispose to close Service Bus links.
/// </summary>
public sealed class AzureAdapters : IAsyncDisposable
{
    private readonly ServiceBusClient? _serviceBus;

    private AzureAdapters(IMessageStore messages, IMessageQueue inbound, IMessageQueue outbound, IMailboxStore mailboxes, IStateStore state, ServiceBusClient? serviceBus)
    {
        MessageStore = messages;
        InboundQueue = inbound;
        OutboundQueue = outbound;
        MailboxStore = mailboxes;
        StateStore = state;
        _serviceBus = serviceBus;
    }

    public IMessageStore MessageStore { get; }
    public IMessageQueue InboundQueue { get; }
    public IMessageQueue OutboundQueue { get; }
    public IMailboxStore MailboxStore { get; }
    public IStateStore StateStore { get; }

    /// <summary>The Service Bus client when the transport is Service Bus (for <c>ServiceBusProcessor</c>s), else null.</summary>
    public ServiceBusClient? ServiceBusClient => _serviceBus;

    public static AzureAdapters Create(AzureStorageOptions options, TimeProvider? time = null)
    {
        options.Validate();
        var clients = AzureClients.Create(options);
        var messages = new BlobMessageStore(clients.Blobs.GetBlobContainerClient(options.MessageContainer));
        // A message no mailbox row references any more (expunged, its mailbox deleted) is deleted from the container.
        var mailboxes = new TableMailboxStore(clients.Tables, options.MailboxTable, time, messages);
        var state = new TableStateStore(clients.Tables.GetTableClient(options.StateTable), time);
        IMessageQueue inbound, outbound;
        ServiceBusClient? sb = null;
        if (options.QueueTransport == QueueTransports.ServiceBus)
        {
            // Owned by the returned AzureAdapters (DisposeAsync closes its links); the queues only borrow it.
#pragma warning disable CA2000
            sb = options.ServiceBusConnectionString is not null
                ? new ServiceBusClient(options.ServiceBusConnectionString)
                : new ServiceBusClient(options.ServiceBusNamespace, clients.Credential!);
#pragma warning restore CA2000
            inbound = ServiceBusQueue(sb, options.InboundQueue, time);
            outbound = ServiceBusQueue(sb, options.OutboundQueue, time);
        }
        else
        {
            inbound = new StorageQueueMessageQueue(clients.Queues!.GetQueueClient(options.InboundQueue), time: time);
            outbound = new StorageQueueMessageQueue(clients.Queues!.GetQueueClient(options.OutboundQueue), time: time);
        }
        return new AzureAdapters(messages, inbound, outbound, mailboxes, state, sb);
    }

    private static ServiceBusMessageQueue ServiceBusQueue(ServiceBusClient client, string queue, TimeProvider? time) => new(
        client.CreateSender(queue),
        client.CreateReceiver(queue, new ServiceBusReceiverOptions { ReceiveMode = ServiceBusReceiveMode.PeekLock }),
        client.CreateReceiver(queue, new ServiceBusReceiverOptions { SubQueue = SubQueue.DeadLetter }),
        time: time);

    public async ValueTask DisposeAsync()
    {
        if (_serviceBus is not null) await _serviceBus.DisposeAsync();
    }
}

/// <summary>The SDK service clients for <see cref="AzureStorageOptions"/>: connection string, or URIs + credential.</summary>
public sealed record AzureClients(BlobServiceClient Blobs, QueueServiceClient? Queues, TableServiceClient Tables, TokenCredential? Credential)
{
    public static AzureClients Create(AzureStorageOptions options)
    {
        // Queue bodies are plain JSON text; host.json sets the Functions trigger to messageEncoding "none" to match.
        var queueOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        if (options.ConnectionString is { } cs)
        {
            TokenCredential? sbCredential = options.ServiceBusNamespace is not null && options.ServiceBusConnectionString is null ? CreateCredential(options) : null;
            return new AzureClients(new BlobServiceClient(cs), new QueueServiceClient(cs, queueOptions), new TableServiceClient(cs), sbCredential);
        }
        var credential = CreateCredential(options);
        return new AzureClients(
            new BlobServiceClient(options.BlobServiceUri!, credential),
            options.QueueServiceUri is null ? null : new QueueServiceClient(options.QueueServiceUri, credential, queueOptions),
            new TableServiceClient(options.TableServiceUri!, credential),
            credential);
    }

    private static TokenCredential CreateCredential(AzureStorageOptions options) =>
        options.Credential ?? new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = options.ManagedIdentityClientId });
}
