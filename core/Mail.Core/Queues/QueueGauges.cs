using Mail.Core.Ports;
using Mail.Core.Telemetry;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Queues;

/// <summary>
/// Samples the queues for the gauges <c>mail.queue.depth</c>, <c>mail.queue.oldest_age</c> and <c>mail.queue.dead</c>:
/// every <c>interval</c> it lists each queue (as <c>mail queue</c> does) and reports what it counted to
/// <see cref="MailTelemetry"/>. A gauge callback must not do I/O, so the listing runs here and the gauges read the
/// last sample.
/// </summary>
public static class QueueGauges
{
    public static async Task SampleAsync(IMessageQueue queue, string name, TimeProvider time, CancellationToken cancellationToken)
    {
        long depth = 0, dead = 0;
        DateTimeOffset? oldest = null;
        await foreach (var e in queue.ListAsync(cancellationToken))
        {
            if (e.State == QueueEntryState.DeadLettered)
            {
                dead++;
                continue;
            }
            depth++;
            if (oldest is null || e.Envelope.ReceivedAt < oldest) oldest = e.Envelope.ReceivedAt;
        }
        var age = oldest is { } o ? Math.Max(0, (time.GetUtcNow() - o).TotalSeconds) : 0;
        MailTelemetry.ReportQueue(name, depth, dead, age);
    }

    /// <summary>Samples the named queues every <paramref name="interval"/> until cancelled; a failed listing is logged and retried next time.</summary>
    public static async Task RunAsync(IReadOnlyList<(string Name, IMessageQueue Queue)> queues, TimeSpan interval, TimeProvider time, ILogger log, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var (name, queue) in queues)
            {
                try
                {
                    await SampleAsync(queue, name, time, cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    log.LogWarning(e, "Sampling queue {Queue} for the metrics failed", name);
                }
            }
            try
            {
                await Task.Delay(interval, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
