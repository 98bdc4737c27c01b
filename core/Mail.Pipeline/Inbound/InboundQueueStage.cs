using System.Diagnostics;
using Mail.Core.Model;
using Mail.Core.Queues;
using Mail.Core.Telemetry;

namespace Mail.Pipeline.Inbound;

/// <summary>
/// The <see cref="InboundStage"/> as the <see cref="StageDriver"/> runs it, under the embedded worker and the Functions
/// alike: done when it returns (the original deleted once every copy lives elsewhere, <see cref="InboundResult.OriginalDone"/>);
/// a <see cref="PermanentDeliveryException"/> dead-letters at once, other failures after <paramref name="maxDeliveries"/>.
/// </summary>
/// <param name="retryDelay">The delay before the next attempt after a given delivery failed (where the transport can delay).</param>
public sealed class InboundQueueStage(InboundStage stage, int maxDeliveries, Func<int, TimeSpan> retryDelay) : IQueueStage
{
    public const string ActivityName = "inbound.stage";

    public ActivitySource Source => MailTelemetry.Inbound;

    public string StageName => "inbound";

    public string SpanName => ActivityName;

    public int? MaxDeliveries => maxDeliveries;

    public async Task<StageDecision> RunAsync(Envelope envelope, int deliveryCount, CancellationToken cancellationToken)
    {
        var result = await stage.ProcessAsync(envelope with { Attempt = Math.Max(envelope.Attempt, deliveryCount - 1) }, cancellationToken);
        return new StageDecision.Done(result.OriginalDone, envelope);
    }

    public Task DeleteOriginalAsync(Envelope envelope, CancellationToken cancellationToken) => stage.DeleteOriginalAsync(envelope, cancellationToken);

    public string? PermanentReason(Exception error) => error is PermanentDeliveryException ? "permanent: " + error.Message : null;

    public TimeSpan RetryDelay(int deliveryCount) => retryDelay(deliveryCount);
}
