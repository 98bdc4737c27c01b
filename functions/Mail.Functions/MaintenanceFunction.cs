using Mail.Core.Ports;
using Mail.Pipeline.Maintenance;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Timer trigger every 5 minutes: purges expired state (greylist triplets, rate counters — anything written with an
/// expiry) and quarantined messages older than the retention (setting Functions:QuarantineRetention, 30 days). Due retries need no requeue on Storage Queues: a retry is the message's visibility timeout (or its
/// "notBefore", re-hidden by the trigger), so it comes back by itself; on Service Bus it is a scheduled message.
/// The pass itself is <see cref="MaintenanceStage"/>, the same one `mail serve` runs in embedded mode.
/// It also applies operators' outbound queue commands (`mail queue hold|release|retry|delete`, <see cref="Mail.Outbound.QueueControl"/>):
/// hold and delete marks take effect when the envelope next runs; Storage Queues cannot make a scheduled message due early.
/// </summary>
public sealed class MaintenanceFunction(IStateStore state, TimeProvider time, ILogger<MaintenanceFunction> log, IMessageStore? messages = null, FunctionsOptions? options = null,
    FunctionQueues? queues = null)
{
    private readonly MaintenanceStage _stage = new(state, time, messages: messages, quarantineRetention: options?.QuarantineRetention);

    public const string Schedule = "0 */5 * * * *";

    [Function("Maintenance")]
    public Task Run([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken) => RunOnceAsync(cancellationToken);

    /// <summary>One maintenance pass; returns how many state entries were purged.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var report = await _stage.RunOnceAsync(cancellationToken);
        if (queues is not null) await new Mail.Outbound.QueueControl(state).ApplyAsync(queues.Outbound, log, cancellationToken);
        if (queues is not null && Mail.Core.Telemetry.MailTelemetry.QueuesObserved)
        {
            // mail.queue.depth / oldest_age / dead, sampled once per pass (the gauges report the last sample).
            await Mail.Core.Queues.QueueGauges.SampleAsync(queues.Inbound, QueueNames.Inbound, time, cancellationToken);
            await Mail.Core.Queues.QueueGauges.SampleAsync(queues.Outbound, QueueNames.Outbound, time, cancellationToken);
        }
        log.LogInformation("Maintenance: purged {Count} expired state entries, deleted {Quarantined} expired quarantined messages",
            report.ExpiredStatePurged, report.QuarantineDeleted);
        return report.ExpiredStatePurged;
    }
}
