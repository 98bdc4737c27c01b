using Mail.Core.Ports;
using Mail.Pipeline.Quarantine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Pipeline.Maintenance;

/// <param name="ExpiredStatePurged">State entries (greylist triplets, rate counters, anything written with an expiry) removed.</param>
/// <param name="QuarantineDeleted">Quarantined messages older than the retention removed (entry and raw message).</param>
public sealed record MaintenanceReport(int ExpiredStatePurged, int QuarantineDeleted = 0);

/// <summary>
/// Housekeeping that keeps the stores small: purges expired state and, given the message store, deletes quarantined
/// messages older than <paramref name="quarantineRetention"/> (default 30 days). One pass is cheap and idempotent, so
/// it is safe to run from several places at once — the Functions app's timer (cloud) and `mail serve`'s loop (embedded).
/// </summary>
public sealed class MaintenanceStage(IStateStore state, TimeProvider? time = null, ILogger<MaintenanceStage>? log = null,
    IMessageStore? messages = null, TimeSpan? quarantineRetention = null)
{
    public static readonly TimeSpan DefaultQuarantineRetention = TimeSpan.FromDays(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger _log = (ILogger?)log ?? NullLogger.Instance;
    private readonly TimeSpan _retention = quarantineRetention ?? DefaultQuarantineRetention;

    public async Task<MaintenanceReport> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var purged = await state.PurgeExpiredAsync(now, cancellationToken);
        var quarantined = 0;
        if (messages is not null)
        {
            var quarantine = new QuarantineStore(state);
            foreach (var entry in await quarantine.ListAsync(cancellationToken))
            {
                if (entry.Date + _retention > now) continue;
                // Raw message first: if we stop in between, the entry remains and the next pass finishes the job.
                await messages.DeleteAsync(entry.MessageRef, cancellationToken);
                await quarantine.DeleteAsync(entry.QueueId, cancellationToken);
                quarantined++;
            }
        }
        // Quiet when there was nothing to do: the loop runs every few minutes.
        _log.Log(purged + quarantined > 0 ? LogLevel.Information : LogLevel.Debug,
            "Maintenance: purged {Count} expired state entries, {Quarantined} quarantined message(s) past retention", purged, quarantined);
        return new MaintenanceReport(purged, quarantined);
    }

    /// <summary>
    /// Runs a pass every <paramref name="interval"/> (first one right away) until cancelled. A failed pass is logged
    /// and retried at the next tick: housekeeping must never take the server down.
    /// </summary>
    public async Task RunPeriodicallyAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        using var timer = new PeriodicTimer(interval, _time);
        do
        {
            try
            {
                await RunOnceAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _log.LogError(e, "Maintenance pass failed; retrying in {Interval}", interval);
            }
            try
            {
                if (!await timer.WaitForNextTickAsync(cancellationToken)) return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        while (true);
    }
}
