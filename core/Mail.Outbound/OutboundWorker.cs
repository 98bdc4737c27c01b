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

    // A round of the control loop: the requests recorded before it starts are applied by it. ApplyCommandsNowAsync
    // takes the round that has not started yet and wakes the loop, so it waits for at most one round in progress.
    private TaskCompletionSource<int> _nextRound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Applies the operators' queue requests now rather than at the next poll (the `mail` command tells the running
    /// server through its control socket); returns how many were applied. Throws when this process applies none.
    /// </summary>
    public Task<int> ApplyCommandsNowAsync(CancellationToken cancellationToken)
    {
        if (control is null) throw new InvalidOperationException("this process applies no outbound queue commands");
        var round = Volatile.Read(ref _nextRound);
        Volatile.Read(ref _wake).TrySetResult();
        return round.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Operators' queue commands (<see cref="QueueControl"/>): applied when a command says so
    /// (<see cref="ApplyCommandsNowAsync"/>), and every second in case none did (a command that could not reach us).</summary>
    private async Task ControlLoopAsync(CancellationToken stoppingToken)
    {
        if (control is null) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            _ = Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            var round = Interlocked.Exchange(ref _nextRound, new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously));
            try
            {
                round.TrySetResult(await control.ApplyAsync(queue, _log, stoppingToken));
            }
            catch (OperationCanceledException)
            {
                round.TrySetCanceled(stoppingToken);
                break;
            }
            catch (Exception e)
            {
                round.TrySetException(e);
                _log.LogError(e, "Applying queue commands failed");
            }
            // The wake of a request made while this round ran is already set: the next round starts at once.
            await Task.WhenAny(Volatile.Read(ref _wake).Task, Task.Delay(TimeSpan.FromSeconds(1), stoppingToken));
        }
        Volatile.Read(ref _nextRound).TrySetCanceled(stoppingToken);
    }

    /// <summary>Runs the stage on one lease and settles it; never throws. A delivery in progress is finished even during
    /// shutdown (CancellationToken.None): abandoning it mid-DATA would only send it twice.</summary>
    public Task HandleAsync(QueueLease lease) =>
        StageDriver.DriveAsync(_stage, lease.Envelope, lease.DeliveryCount, new LeaseSettlement(queue, lease, _log), _log, CancellationToken.None);
}
