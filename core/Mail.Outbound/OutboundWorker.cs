using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Queues;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Outbound;

/// <summary>
/// The embedded driver of the <see cref="OutboundStage"/>: receives due envelopes from the "outbound" queue,
/// <see cref="OutboundOptions.Concurrency"/> at a time, and runs each through the <see cref="StageDriver"/> (<see cref="OutboundQueueStage"/>), as the Function does. An envelope
/// whose original is gone is dead-lettered with the reason; any other failure is retried after the minimal backoff.
/// </summary>
public sealed class OutboundWorker(IMessageQueue queue, OutboundStage stage, OutboundOptions options, ILogger<OutboundWorker>? logger = null, TimeProvider? time = null,
    QueueControl? control = null)
{
    private readonly ILogger _log = logger ?? NullLogger<OutboundWorker>.Instance;
    private static readonly TimeSpan s_lock = TimeSpan.FromMinutes(30);
    private readonly OutboundQueueStage _stage = new(stage, options.MinimalBackoff, time ?? TimeProvider.System, flushTlsResultsPerRun: false);

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var loops = Mail.Core.Queues.QueuePoller.RunAsync(queue, options.Concurrency, s_lock, options.PollInterval, HandleAsync, _log, stoppingToken);
        var trim = Task.Run(() => TrimLoopAsync(stoppingToken), CancellationToken.None);
        var commands = Task.Run(() => ControlLoopAsync(stoppingToken), CancellationToken.None);
        var reports = Task.Run(() => TlsReportLoopAsync(stoppingToken), CancellationToken.None);
        await loops;
        await trim;
        await commands;
        await reports;
        await stage.FlushTlsResultsAsync(CancellationToken.None);
    }

    private async Task TrimLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.ConnectionReuseTime, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            await stage.TrimConnectionsAsync();
            try
            {
                await stage.FlushTlsResultsAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _log.LogWarning("TLS-RPT: storing session results failed: {Reason}", e.Message);
            }
        }
    }

    /// <summary>TLS-RPT (RFC 8460): every Outbound:TlsReporting:CheckInterval, the reports of finished days go out.</summary>
    private async Task TlsReportLoopAsync(CancellationToken stoppingToken)
    {
        if (!options.TlsReporting.Enabled) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.TlsReporting.CheckInterval, stoppingToken);
                await stage.SendTlsReportsAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception e)
            {
                _log.LogError(e, "TLS-RPT: sending reports failed");
            }
        }
    }

    /// <summary>Operators' queue commands (<see cref="QueueControl"/>), applied every second.</summary>
    private async Task ControlLoopAsync(CancellationToken stoppingToken)
    {
        if (control is null) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await control.ApplyAsync(queue, _log, stoppingToken);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception e)
            {
                _log.LogError(e, "Applying queue commands failed");
            }
        }
    }

    /// <summary>Runs the stage on one lease and settles it; never throws. A delivery in progress is finished even during
    /// shutdown (CancellationToken.None): abandoning it mid-DATA would only send it twice.</summary>
    public Task HandleAsync(QueueLease lease) =>
        StageDriver.DriveAsync(_stage, lease.Envelope, lease.DeliveryCount, new LeaseSettlement(queue, lease, _log), _log, CancellationToken.None);
}
