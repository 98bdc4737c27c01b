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
        if (await TriggeredEnvelope.ReadDueAsync(queues.Outbound, QueueNames.Outbound, message, time.GetUtcNow(), log, cancellationToken) is not { } envelope) return;
        await StageDriver.DriveAsync(new OutboundQueueStage(stage, TimeSpan.Zero, time, flushTlsResultsPerRun: true), envelope, (int)message.DequeueCount,
            new TriggerSettlement(queues.Outbound, envelope), log, cancellationToken);
    }
}
