using Azure.Storage.Queues.Models;
using Mail.Core.Queues;
using Mail.Storage.Azure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Storage Queue trigger on "inbound": one envelope → <see cref="InboundRunner"/> → mailboxes / outbound queue.
/// Returning normally lets the host delete the message; throwing makes the host retry it after host.json's
/// visibilityTimeout. On the last allowed delivery (or a permanent failure) the envelope is put on "inbound-poison"
/// with the reason by us, so an operator sees why.
/// </summary>
public sealed class InboundFunction(InboundRunner runner, FunctionQueues queues, ILogger<InboundFunction> log)
{
    [Function("Inbound")]
    public async Task Run([QueueTrigger(QueueNames.Inbound, Connection = QueueNames.Connection)] QueueMessage message, CancellationToken cancellationToken)
    {
        if (await TriggeredEnvelope.ReadDueAsync(queues.Inbound, QueueNames.Inbound, message, DateTimeOffset.UtcNow, log, cancellationToken) is not { } envelope) return;
        // Done: the original is deleted before the host deletes the queue message (it does once we return); a redelivery
        // after that finds the copies delivered and completes without the original.
        await runner.RunAsync(envelope, (int)message.DequeueCount, new TriggerSettlement(queues.Inbound, envelope), cancellationToken);
    }
}
