using System.Text.Json;
using Azure.Messaging.ServiceBus;
using Mail.Core.Queues;
using Mail.Storage.Azure;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// The Service Bus path. The Functions binding for Service Bus triggers cannot be restored in this environment, so
/// when Azure:QueueTransport is ServiceBus the inbound stage runs under a <see cref="ServiceBusProcessor"/> hosted in
/// the same worker process (PeekLock, no auto-complete), through the same <see cref="StageDriver"/> as every other
/// hosting: completed on success (then the original deleted if done), dead-lettered with the reason on a
/// permanent failure or the last allowed delivery, abandoned otherwise so Service Bus redelivers it.
/// </summary>
public sealed class ServiceBusInboundProcessor(AzureAdapters adapters, AzureStorageOptions azure, InboundRunner runner, FunctionsOptions options, ILogger<ServiceBusInboundProcessor> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var client = adapters.ServiceBusClient ?? throw new AzureConfigurationException("Azure:QueueTransport is ServiceBus but no Service Bus client was created.");
        await using var processor = client.CreateProcessor(azure.InboundQueue, new ServiceBusProcessorOptions
        {
            AutoCompleteMessages = false,
            MaxConcurrentCalls = options.ServiceBusConcurrency,
            ReceiveMode = ServiceBusReceiveMode.PeekLock,
        });
        processor.ProcessMessageAsync += HandleAsync;
        processor.ProcessErrorAsync += e =>
        {
            log.LogError(e.Exception, "Service Bus {Source} error on {Entity}", e.ErrorSource, e.EntityPath);
            return Task.CompletedTask;
        };
        await processor.StartProcessingAsync(stoppingToken);
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
        await processor.StopProcessingAsync(CancellationToken.None);
    }

    /// <summary>Handles one message (public so tests drive it with <see cref="ProcessMessageEventArgs"/> over a fake receiver).</summary>
    public async Task HandleAsync(ProcessMessageEventArgs args)
    {
        Mail.Core.Model.Envelope envelope;
        try
        {
            envelope = ServiceBusMessageQueue.FromMessage(args.Message);
        }
        catch (JsonException e)
        {
            await args.DeadLetterMessageAsync(args.Message, "MalformedEnvelope", e.Message, args.CancellationToken);
            return;
        }
        await runner.RunAsync(envelope, ServiceBusMessageQueue.DeliveryCount(args.Message), new MessageSettlement(args), args.CancellationToken);
    }

    /// <summary>PeekLock settlement of one message. A retry is an abandon: Service Bus redelivers at once; the queue's
    /// MaxDeliveryCount is the backstop, and our own FunctionsOptions.MaxDeliveries dead-letters with the reason first.</summary>
    private sealed class MessageSettlement(ProcessMessageEventArgs args) : IDeliverySettlement
    {
        public Task CompleteAsync(CancellationToken cancellationToken) => args.CompleteMessageAsync(args.Message, cancellationToken);

        public Task SendNextAsync(Mail.Core.Model.Envelope envelope, DateTimeOffset notBefore, CancellationToken cancellationToken) =>
            throw new NotSupportedException("The inbound stage never schedules a next copy.");

        public Task RetryAsync(TimeSpan delay, Exception error, CancellationToken cancellationToken) =>
            args.AbandonMessageAsync(args.Message, cancellationToken: cancellationToken);

        public Task DeadLetterAsync(string reason, CancellationToken cancellationToken) =>
            args.DeadLetterMessageAsync(args.Message, "InboundFailed", reason, cancellationToken);
    }
}
