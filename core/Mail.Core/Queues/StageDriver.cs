using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Telemetry;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Queues;

/// <summary>What one run of a stage decided for the envelope it was given.</summary>
public abstract record StageDecision
{
    private StageDecision()
    {
    }

    /// <summary>Every recipient is final: remove the envelope from its queue; with <paramref name="DeleteOriginal"/> the
    /// original message is no longer needed by anyone (deleted after the removal, never before: a retry needs it).</summary>
    public sealed record Done(bool DeleteOriginal, Envelope Envelope) : StageDecision;

    /// <summary>Not finished: <paramref name="Envelope"/> (with each recipient's state) is queued durably for
    /// <paramref name="NotBefore"/> before the current copy is removed. A crash in between leaves two copies; the stage's
    /// recorded outcomes keep the second from doing anything twice.</summary>
    public sealed record Next(Envelope Envelope, DateTimeOffset NotBefore) : StageDecision;
}

/// <summary>One stage (inbound, outbound) as the <see cref="StageDriver"/> runs it.</summary>
public interface IQueueStage
{
    /// <summary>The telemetry source, stage name and span name of a run (<see cref="MessageRun"/>).</summary>
    ActivitySource Source { get; }

    string StageName { get; }

    string SpanName { get; }

    Task<StageDecision> RunAsync(Envelope envelope, int deliveryCount, CancellationToken cancellationToken);

    Task DeleteOriginalAsync(Envelope envelope, CancellationToken cancellationToken);

    /// <summary>The dead-letter reason when <paramref name="error"/> can never succeed on a retry; null when it may.</summary>
    string? PermanentReason(Exception error);

    /// <summary>Deliveries after which a failing envelope is dead-lettered; null: never by us (the transport's own limit).</summary>
    int? MaxDeliveries { get; }

    /// <summary>How long before the next attempt after delivery <paramref name="deliveryCount"/> failed (where the transport
    /// can delay a retry).</summary>
    TimeSpan RetryDelay(int deliveryCount);
}

/// <summary>How the transport that delivered one envelope settles it: a lease on an <see cref="IMessageQueue"/>
/// (<see cref="LeaseSettlement"/>), a Functions trigger (<see cref="TriggerSettlement"/>) or a Service Bus message.</summary>
public interface IDeliverySettlement
{
    Task CompleteAsync(CancellationToken cancellationToken);

    Task SendNextAsync(Envelope envelope, DateTimeOffset notBefore, CancellationToken cancellationToken);

    Task RetryAsync(TimeSpan delay, Exception error, CancellationToken cancellationToken);

    Task DeadLetterAsync(string reason, CancellationToken cancellationToken);
}

/// <summary>
/// The one per-envelope driver of every stage under every hosting (embedded workers, Functions triggers, the Service
/// Bus processor): run the stage, then settle on the transport: done → complete, then delete the original if the stage
/// says so; not done → queue the next copy, then complete; a permanent failure or the last allowed delivery →
/// dead-letter with the reason; any other failure → retry (the stage is idempotent). Only a cancellation of
/// <paramref name="cancellationToken"/> escapes, and whatever the settlement itself throws.
/// </summary>
public static class StageDriver
{
    public static async Task DriveAsync(IQueueStage stage, Envelope envelope, int deliveryCount, IDeliverySettlement settlement, ILogger log,
        CancellationToken cancellationToken)
    {
        using var run = MessageRun.Begin(log, stage.Source, stage.StageName, stage.SpanName, envelope);
        run.Activity?.SetTag("messaging.message.delivery_count", deliveryCount);
        Exception failure;
        try
        {
            switch (await stage.RunAsync(envelope, deliveryCount, cancellationToken))
            {
                case StageDecision.Done done:
                    await settlement.CompleteAsync(cancellationToken);
                    if (done.DeleteOriginal) await DeleteOriginalAsync(stage, done.Envelope, log, cancellationToken);
                    return;
                case StageDecision.Next next:
                    await settlement.SendNextAsync(next.Envelope, next.NotBefore, cancellationToken);
                    await settlement.CompleteAsync(cancellationToken);
                    return;
                default:
                    throw new InvalidOperationException("Unknown stage decision");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            failure = e;
        }
        run.Fail(failure.Message);
        if (stage.PermanentReason(failure) is { } permanent)
        {
            log.LogError("{QueueId}: permanent failure, dead-lettered: {Reason}", envelope.QueueId, permanent);
            await settlement.DeadLetterAsync(permanent, cancellationToken);
        }
        else if (stage.MaxDeliveries is { } max && deliveryCount >= max)
        {
            log.LogError(failure, "{QueueId}: failed on delivery {Count} of {Max}, dead-lettered", envelope.QueueId, deliveryCount, max);
            await settlement.DeadLetterAsync($"failed {deliveryCount} times; last error {failure.GetType().Name}: {failure.Message}", cancellationToken);
        }
        else
        {
            var delay = stage.RetryDelay(deliveryCount);
            log.LogWarning(failure, "{QueueId}: delivery {Count} failed; retrying in {Delay}", envelope.QueueId, deliveryCount, delay);
            await settlement.RetryAsync(delay, failure, cancellationToken);
        }
    }

    private static async Task DeleteOriginalAsync(IQueueStage stage, Envelope envelope, ILogger log, CancellationToken cancellationToken)
    {
        try
        {
            await stage.DeleteOriginalAsync(envelope, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Only space: the envelope is settled, and a cloud store's lifecycle rule removes what is left.
            log.LogWarning("{QueueId}: could not delete the original {MessageRef}: {Reason}", envelope.QueueId, envelope.MessageRef, e.Message);
        }
    }
}

/// <summary>Settles a lease received from an <see cref="IMessageQueue"/> (the embedded workers). A failed abandon or
/// dead-letter only logs: the lock expires and the envelope comes back, nothing is lost.</summary>
public sealed class LeaseSettlement(IMessageQueue queue, QueueLease lease, ILogger log) : IDeliverySettlement
{
    public Task CompleteAsync(CancellationToken cancellationToken) => queue.CompleteAsync(lease, cancellationToken);

    public Task SendNextAsync(Envelope envelope, DateTimeOffset notBefore, CancellationToken cancellationToken) => queue.SendAsync(envelope, notBefore, cancellationToken);

    public Task RetryAsync(TimeSpan delay, Exception error, CancellationToken cancellationToken) => TryAsync(() => queue.AbandonAsync(lease, delay, cancellationToken));

    public Task DeadLetterAsync(string reason, CancellationToken cancellationToken) => TryAsync(() => queue.DeadLetterAsync(lease, reason, cancellationToken));

    private async Task TryAsync(Func<Task> settle)
    {
        try
        {
            await settle();
        }
        catch (Exception e)
        {
            log.LogError(e, "{QueueId}: could not settle the lease; it comes back when its lock expires", lease.Envelope.QueueId);
        }
    }
}

/// <summary>Settles a message a Functions queue trigger delivered: the host deletes it once the function returns and
/// makes it visible again if it throws, so completing is nothing to do and a retry is a rethrow (after the host's
/// visibilityTimeout; the delay cannot be chosen).</summary>
public sealed class TriggerSettlement(ITriggeredQueue queue, Envelope envelope) : IDeliverySettlement
{
    public Task CompleteAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task SendNextAsync(Envelope next, DateTimeOffset notBefore, CancellationToken cancellationToken) => queue.SendAsync(next, notBefore, cancellationToken);

    public Task RetryAsync(TimeSpan delay, Exception error, CancellationToken cancellationToken)
    {
        ExceptionDispatchInfo.Throw(error);
        return Task.CompletedTask;
    }

    public Task DeadLetterAsync(string reason, CancellationToken cancellationToken) => queue.SendToDeadLetterAsync(envelope, reason, cancellationToken);
}
