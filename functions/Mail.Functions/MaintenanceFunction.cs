using Mail.Core.Ports;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Timer trigger every 5 minutes: purges expired state (greylist triplets, rate counters — anything written with an
/// expiry). Due retries need no requeue on Storage Queues: a retry is the message's visibility timeout (or its
/// "notBefore", re-hidden by the trigger), so it comes back by itself; on Service Bus it is a scheduled message.
/// </summary>
public sealed class MaintenanceFunction(IStateStore state, TimeProvider time, ILogger<MaintenanceFunction> log)
{
    public const string Schedule = "0 */5 * * * *";

    [Function("Maintenance")]
    public Task Run([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken) => RunOnceAsync(cancellationToken);

    /// <summary>One maintenance pass; returns how many state entries were purged.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var purged = await state.PurgeExpiredAsync(time.GetUtcNow(), cancellationToken);
        log.LogInformation("Maintenance: purged {Count} expired state entries", purged);
        return purged;
    }
}
