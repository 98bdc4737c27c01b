using Azure.Storage.Queues.Models;
using Mail.Core.Queues;
using Mail.Outbound;
using Mail.Storage.Azure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Storage Queue trigger on "outbound": runs the same <see cref="OutboundStage"/> through the same <see cref="StageDriver"/>
/// (<see cref="OutboundQueueStage"/>) as the embedded worker. A retry is a
/// scheduled message: the updated envelope (each recipient's state) goes back on the queue hidden until its next
/// attempt, then the host deletes this copy. When every recipient is final the original blob is deleted. Only what is
/// truly poison is set aside: a body that is not an envelope, an envelope whose message is gone, or one that failed
/// <see cref="FunctionsOptions.MaxDeliveries"/> runs in a row (the host then moves it and <see cref="PoisonFunction"/> records it).
/// </summary>
public sealed class OutboundFunction(FunctionQueues queues, OutboundStage stage, TimeProvider time, ILogger<OutboundFunction> log)
{
    [Function("Outbound")]
    public async Task Run([QueueTrigger(QueueNames.Outbound, Connection = QueueNames.Connection)] QueueMessage message, CancellationToken cancellationToken)
    {
        if (!queues.Outbound.TryRead(message.MessageText, out var envelope, out var notBefore, out _))
        {
            await queues.Outbound.SendRawToDeadLetterAsync(message.MessageText, "Malformed envelope (not the JSON of an Envelope)", cancellationToken);
            return;
        }
        if (notBefore is { } nb && nb > time.GetUtcNow())
        {
            // Scheduled beyond the 7-day visibility cap: put it back hidden until due (the host deletes this copy).
            await queues.Outbound.SendAsync(envelope, nb, cancellationToken);
            return;
        }
        await StageDriver.DriveAsync(new OutboundQueueStage(stage, TimeSpan.Zero, time, flushTlsResultsPerRun: true), envelope, (int)message.DequeueCount,
            new TriggerSettlement(queues.Outbound, envelope), log, cancellationToken);
    }
}
