using System.Text.Json;
using Azure.Messaging.ServiceBus;
using Mail.Storage.Azure;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// The Service Bus path. The Functions binding for Service Bus triggers cannot be restored in this environment, so
/// when Azure:QueueTransport is ServiceBus the inbound stage runs under a <see cref="ServiceBusProcessor"/> hosted in
/// the same worker process (PeekLock, no auto-complete): completed on success, dead-lettered with the reason on a
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
        InboundOutcome outcome;
        try
        {
            outcome = await runner.RunAsync(envelope, ServiceBusMessageQueue.DeliveryCount(args.Message), args.CancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Retry: Service Bus redelivers at once; the queue's MaxDeliveryCount is the backstop, and our own
            // FunctionsOptions.MaxDeliveries dead-letters with the reason first.
            await args.AbandonMessageAsync(args.Message, cancellationToken: args.CancellationToken);
            return;
        }
        if (outcome.DeadLetterReason is { } reason)
            await args.DeadLetterMessageAsync(args.Message, "InboundFailed", reason, args.CancellationToken);
        else
        {
            await args.CompleteMessageAsync(args.Message, args.CancellationToken);
            // After Complete, as the embedded worker does: until then a redelivery may still need the original.
            await runner.DeleteOriginalIfDoneAsync(envelope, outcome, args.CancellationToken);
        }
    }
}
