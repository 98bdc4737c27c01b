using Mail.Core.Model;
using Mail.Core.Queues;
using Mail.Pipeline.Inbound;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// The inbound stage under the Functions hosting, for the Storage Queue trigger and the Service Bus processor: the same
/// <see cref="StageDriver"/> and <see cref="InboundQueueStage"/> as the embedded worker, so the two hostings settle an
/// envelope the same way; only the transport's settlement differs. The trace started at the edge continues (W3C
/// traceparent from the envelope); the last allowed delivery (<see cref="FunctionsOptions.MaxDeliveries"/>) dead-letters.
/// </summary>
public sealed class InboundRunner(InboundStage stage, FunctionsOptions options, ILogger<InboundRunner> log)
{
    public const string ActivityName = InboundQueueStage.ActivityName;

    // The transports choose the retry delay themselves (visibilityTimeout, Service Bus redelivery).
    private readonly InboundQueueStage _stage = new(stage, options.MaxDeliveries, _ => TimeSpan.Zero);

    public Task RunAsync(Envelope envelope, int deliveryCount, IDeliverySettlement settlement, CancellationToken cancellationToken) =>
        StageDriver.DriveAsync(_stage, envelope, deliveryCount, settlement, log, cancellationToken);
}
