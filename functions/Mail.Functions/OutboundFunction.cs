using Azure.Storage.Queues.Models;
using Mail.Core.Model;
using Mail.Core.Telemetry;
using Mail.Outbound;
using Mail.Storage.Azure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Storage Queue trigger on "outbound": runs the same <see cref="OutboundStage"/> as the embedded worker. A retry is a
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
        using var run = MessageRun.Begin(log, MailTelemetry.Outbound, "outbound", OutboundStage.SpanName, envelope);
        OutboundResult result;
        try
        {
            result = await stage.ProcessAsync(envelope, cancellationToken);
            // TLS-RPT session counts of this run (none without an MTA-STS or DANE policy) go to Table storage at once:
            // a Function instance may not live to a later flush.
            await stage.FlushTlsResultsAsync(cancellationToken);
        }
        catch (PermanentOutboundException e)
        {
            run.Fail(e.Message);
            log.LogError("{QueueId}: set aside: {Reason}", envelope.QueueId, e.Message);
            await queues.Outbound.SendToDeadLetterAsync(envelope, e.Message, cancellationToken);
            return;
        }
        if (result.Done)
        {
            await stage.DeleteOriginalAsync(result.Envelope, cancellationToken);
            return;
        }
        // Durably scheduled before the host deletes this copy; a crash in between runs it twice, and the stage's
        // recorded final outcomes keep a recipient from getting it twice.
        var next = result.NextAttemptAt ?? time.GetUtcNow() + OutboundSettlement.HeldRecheck;
        await queues.Outbound.SendAsync(result.Envelope with { Attempt = envelope.Attempt + 1 }, next, cancellationToken);
    }
}
