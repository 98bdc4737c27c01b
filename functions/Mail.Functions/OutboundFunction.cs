using Azure.Storage.Queues.Models;
using Mail.Storage.Azure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Storage Queue trigger on "outbound". The outbound stage (DKIM sign, MX lookup, deliver, retry, DSN) does not exist
/// yet, so this trigger parks each envelope on "outbound-poison" with a reason saying so (and <see cref="PoisonFunction"/>
/// records it in the poison table): remote mail is kept, visible and never dropped, and can be re-sent once the stage exists.
/// </summary>
public sealed class OutboundFunction(FunctionQueues queues, ILogger<OutboundFunction> log)
{
    public const string ParkedReason = "outbound delivery stage not available in this version; envelope parked for an operator";

    [Function("Outbound")]
    public async Task Run([QueueTrigger(QueueNames.Outbound, Connection = QueueNames.Connection)] QueueMessage message, CancellationToken cancellationToken)
    {
        if (!StorageQueueMessageQueue.TryParse(message.MessageText, out var envelope, out _, out _))
        {
            await queues.Outbound.SendRawToDeadLetterAsync(message.MessageText, "Malformed envelope (not the JSON of an Envelope)", cancellationToken);
            return;
        }
        log.LogWarning("{QueueId}: {Count} remote recipient(s) parked: {Reason}", envelope.QueueId, envelope.Recipients.Count, ParkedReason);
        await queues.Outbound.SendToDeadLetterAsync(envelope, ParkedReason, cancellationToken);
    }
}
