using System.Diagnostics;
using Mail.Core.Model;
using Mail.Core.Queues;
using Mail.Core.Telemetry;

namespace Mail.Outbound;

/// <summary>
/// The <see cref="OutboundStage"/> as the <see cref="StageDriver"/> runs it, under the embedded worker and the Function
/// alike: done when every recipient is final (the original then deleted); otherwise the updated envelope is queued for its
/// next attempt (a held one is looked at again after <see cref="HeldRecheck"/>). An envelope whose message is gone
/// (<see cref="PermanentOutboundException"/>) is dead-lettered; other failures are retried without a limit of ours (the
/// embedded worker after <paramref name="retryDelay"/>; a Functions host moves a message to its poison queue itself).
/// </summary>
/// <param name="flushTlsResultsPerRun">Store the TLS-RPT session counts after every run: a Function instance may not
/// live to a later flush (the embedded worker flushes on a timer).</param>
public sealed class OutboundQueueStage(OutboundStage stage, TimeSpan retryDelay, TimeProvider time, bool flushTlsResultsPerRun) : IQueueStage
{
    /// <summary>How often a held envelope is looked at again (a release also makes it due at once where the queue can).</summary>
    public static readonly TimeSpan HeldRecheck = TimeSpan.FromMinutes(5);

    public ActivitySource Source => MailTelemetry.Outbound;

    public string StageName => "outbound";

    public string SpanName => OutboundStage.SpanName;

    public int? MaxDeliveries => null;

    public async Task<StageDecision> RunAsync(Envelope envelope, int deliveryCount, CancellationToken cancellationToken)
    {
        var result = await stage.ProcessAsync(envelope, cancellationToken);
        if (flushTlsResultsPerRun) await stage.FlushTlsResultsAsync(cancellationToken);
        if (result.Done) return new StageDecision.Done(true, result.Envelope);
        return new StageDecision.Next(result.Envelope with { Attempt = result.Envelope.Attempt + 1 }, result.NextAttemptAt ?? time.GetUtcNow() + HeldRecheck);
    }

    public Task DeleteOriginalAsync(Envelope envelope, CancellationToken cancellationToken) => stage.DeleteOriginalAsync(envelope, cancellationToken);

    public string? PermanentReason(Exception error) => error is PermanentOutboundException ? error.Message : null;

    public TimeSpan RetryDelay(int deliveryCount) => retryDelay;
}
