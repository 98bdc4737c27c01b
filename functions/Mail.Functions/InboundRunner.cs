using Mail.Core.Model;
using Mail.Core.Telemetry;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>What to do with a delivered envelope after one run.</summary>
/// <param name="DeadLetterReason">Null: done (settle it). Otherwise: set it aside with this reason.</param>
public sealed record InboundOutcome(InboundResult? Result, string? DeadLetterReason);

/// <summary>
/// Runs the <see cref="InboundStage"/> for one envelope, the same way under the Storage Queue trigger and the
/// Service Bus processor: continues the trace started at the edge (W3C traceparent from the envelope), turns a
/// permanent failure or the last allowed attempt into a dead-letter outcome with the reason, and lets other
/// exceptions escape so the transport redelivers (the stage is idempotent).
/// </summary>
public sealed class InboundRunner(InboundStage stage, FunctionsOptions options, ILogger<InboundRunner> log)
{
    public const string ActivityName = "inbound.stage";

    public async Task<InboundOutcome> RunAsync(Envelope envelope, int deliveryCount, CancellationToken cancellationToken)
    {
        using var run = MessageRun.Begin(log, MailTelemetry.Inbound, "inbound", ActivityName, envelope);
        run.Activity?.SetTag("messaging.message.delivery_count", deliveryCount);
        try
        {
            var result = await stage.ProcessAsync(envelope with { Attempt = Math.Max(envelope.Attempt, deliveryCount - 1) }, cancellationToken);
            return new InboundOutcome(result, null);
        }
        catch (PermanentDeliveryException e)
        {
            log.LogError(e, "{QueueId}: permanent failure, dead-lettering", envelope.QueueId);
            run.Fail(e.Message);
            return new InboundOutcome(null, "permanent: " + e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException && deliveryCount >= options.MaxDeliveries)
        {
            log.LogError(e, "{QueueId}: failed on delivery {Count} of {Max}, dead-lettering", envelope.QueueId, deliveryCount, options.MaxDeliveries);
            run.Fail(e.Message);
            return new InboundOutcome(null, $"failed {deliveryCount} times; last error {e.GetType().Name}: {e.Message}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "{QueueId}: delivery {Count} of {Max} failed; will be retried", envelope.QueueId, deliveryCount, options.MaxDeliveries);
            run.Fail(e.Message);
            throw;
        }
    }

    /// <summary>
    /// Deletes the original from the message store (Blob) once every recipient is final: delivered locally or
    /// forwarded, nothing left for the outbound queue (which deletes it itself when its recipients are final). The same
    /// rule as the embedded worker's. Safe to repeat, and safe before the queue message is settled: a redelivery finds
    /// the delivered copies and completes without the original. A failure only logs: the storage lifecycle rule on the
    /// container removes what is left.
    /// </summary>
    public async Task DeleteOriginalIfDoneAsync(Envelope envelope, InboundOutcome outcome, CancellationToken cancellationToken)
    {
        if (outcome.Result is not { OriginalDone: true }) return;
        try
        {
            await stage.DeleteOriginalAsync(envelope, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("{QueueId}: could not delete the original {MessageRef}, left to the storage lifecycle rule: {Reason}", envelope.QueueId, envelope.MessageRef, e.Message);
        }
    }

}
