using Mail.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Queues;

/// <summary>
/// The receive loop every embedded stage worker runs over its queue: <c>concurrency</c> loops, each receiving one lease
/// at a time and handing it to <c>handle</c> (which settles it and never throws). When nothing is due a loop waits in
/// <see cref="IMessageQueue.WaitForDueAsync"/>: woken by the next send where the queue can tell (the embedded spool),
/// else after <c>pollInterval</c>. Cancelling stops the receiving; a lease being handled is finished (drain).
/// </summary>
public static class QueuePoller
{
    public static Task RunAsync(IMessageQueue queue, int concurrency, TimeSpan lockDuration, TimeSpan pollInterval, Func<QueueLease, Task> handle, ILogger log,
        CancellationToken stoppingToken)
    {
        var loops = Enumerable.Range(0, concurrency).Select(_ => Task.Run(() => LoopAsync(queue, lockDuration, pollInterval, handle, log, stoppingToken), CancellationToken.None));
        return Task.WhenAll(loops);
    }

    private static async Task LoopAsync(IMessageQueue queue, TimeSpan lockDuration, TimeSpan pollInterval, Func<QueueLease, Task> handle, ILogger log, CancellationToken stoppingToken)
    {
        // After a failure, the plain poll whatever the queue says is due: a failing queue must not become a busy loop.
        var failed = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            IReadOnlyList<QueueLease> leases;
            try
            {
                leases = await queue.ReceiveAsync(1, lockDuration, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogError(e, "Receiving from {Queue} failed", queue.Name);
                leases = [];
                failed = true;
            }
            if (leases.Count == 0)
            {
                try
                {
                    await (failed ? Task.Delay(pollInterval, stoppingToken) : queue.WaitForDueAsync(pollInterval, stoppingToken));
                    failed = false;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    log.LogError(e, "Waiting on {Queue} failed", queue.Name);
                    failed = true;
                }
                continue;
            }
            foreach (var lease in leases) await handle(lease);
        }
    }
}
