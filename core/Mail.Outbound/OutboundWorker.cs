using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Outbound;

/// <summary>What to do with an outbound lease after one run of the stage (shared by the embedded worker and the Function).</summary>
public static class OutboundSettlement
{
    /// <summary>How often a held envelope is looked at again (a release also makes it due at once where the queue can).</summary>
    public static readonly TimeSpan HeldRecheck = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Done: complete, then delete the original (after, never before: until then a retry needs it). Not done: queue the
    /// updated envelope for its next attempt first (durably), then complete the old one; a crash between the two leaves
    /// two copies, and the stage's recorded final outcomes keep the second from sending anything twice.
    /// </summary>
    public static async Task SettleAsync(IMessageQueue queue, QueueLease lease, OutboundResult result, OutboundStage stage, TimeProvider time, ILogger log)
    {
        if (result.Done)
        {
            await queue.CompleteAsync(lease, CancellationToken.None);
            try
            {
                await stage.DeleteOriginalAsync(result.Envelope, CancellationToken.None);
            }
            catch (Exception e)
            {
                log.LogWarning(e, "{QueueId}: could not delete the original {MessageRef}", result.Envelope.QueueId, result.Envelope.MessageRef);
            }
            return;
        }
        var next = result.NextAttemptAt ?? time.GetUtcNow() + HeldRecheck;
        await queue.SendAsync(result.Envelope with { Attempt = result.Envelope.Attempt + 1 }, next, CancellationToken.None);
        await queue.CompleteAsync(lease, CancellationToken.None);
    }
}

/// <summary>
/// The embedded driver of the <see cref="OutboundStage"/>: receives due envelopes from the "outbound" queue,
/// <see cref="OutboundOptions.Concurrency"/> at a time, and settles each (<see cref="OutboundSettlement"/>). An envelope
/// whose original is gone is dead-lettered with the reason; any other failure is retried after the minimal backoff.
/// </summary>
public sealed class OutboundWorker(IMessageQueue queue, OutboundStage stage, OutboundOptions options, ILogger<OutboundWorker>? logger = null, TimeProvider? time = null,
    QueueControl? control = null)
{
    private readonly ILogger _log = logger ?? NullLogger<OutboundWorker>.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private static readonly TimeSpan s_lock = TimeSpan.FromMinutes(30);

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

    /// <summary>Runs the stage on one lease and settles it; never throws.</summary>
    public async Task HandleAsync(QueueLease lease)
    {
        var env = lease.Envelope;
        using var run = MessageRun.Begin(_log, MailTelemetry.Outbound, "outbound", OutboundStage.SpanName, env);
        try
        {
            // A delivery in progress is finished even during shutdown: abandoning it mid-DATA would only send it twice.
            var result = await stage.ProcessAsync(env, CancellationToken.None);
            await OutboundSettlement.SettleAsync(queue, lease, result, stage, _time, _log);
        }
        catch (PermanentOutboundException e)
        {
            run.Fail(e.Message);
            _log.LogError("{QueueId}: set aside: {Reason}", env.QueueId, e.Message);
            await Try(() => queue.DeadLetterAsync(lease, e.Message, CancellationToken.None), env);
        }
        catch (Exception e)
        {
            run.Fail(e.Message);
            _log.LogError(e, "{QueueId}: outbound run failed; retrying in {Delay}", env.QueueId, options.MinimalBackoff);
            await Try(() => queue.AbandonAsync(lease, options.MinimalBackoff, CancellationToken.None), env);
        }
    }

    private async Task Try(Func<Task> settle, Envelope env)
    {
        try
        {
            await settle();
        }
        catch (Exception e)
        {
            _log.LogError(e, "{QueueId}: could not settle the lease; it comes back when its lock expires", env.QueueId);
        }
    }
}
