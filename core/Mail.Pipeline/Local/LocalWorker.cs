using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Queues;
using Mail.Pipeline.Inbound;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Pipeline.Local;

/// <summary>Settings of the embedded worker (configuration section "Worker").</summary>
public sealed class LocalWorkerOptions
{
    /// <summary>Envelopes processed at the same time. Their mailbox writes and queue settlements are group-committed,
    /// so more deliveries in flight share each sync: at least as many as the SMTP sessions a burst brings, so that
    /// the worker takes every accepted message while the edge syncs the next. Each holds its message in memory during
    /// the checks, which bounds the memory (how the default was chosen: bench/README.md, "Figures behind the code").</summary>
    public int Concurrency { get; set; } = 64;

    /// <summary>How long a received envelope stays locked; a crash mid-delivery makes it visible again after this
    /// (the embedded spool also makes it visible at once on restart).</summary>
    public TimeSpan LockDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Attempts before an envelope is dead-lettered.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Delay before the 2nd attempt; doubles per attempt up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Longest wait of an idle worker before it looks at the queue again. The embedded spool wakes it as soon as
    /// an envelope is queued or comes due, so this is only a fallback.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    public void Validate()
    {
        if (Concurrency < 1) throw new ArgumentException("Worker:Concurrency must be at least 1");
        if (MaxAttempts < 1) throw new ArgumentException("Worker:MaxAttempts must be at least 1");
        if (LockDuration <= TimeSpan.Zero) throw new ArgumentException("Worker:LockDuration must be positive");
        if (RetryDelay < TimeSpan.Zero || MaxRetryDelay < RetryDelay) throw new ArgumentException("Worker:RetryDelay must be >= 0 and <= Worker:MaxRetryDelay");
        if (PollInterval <= TimeSpan.Zero) throw new ArgumentException("Worker:PollInterval must be positive");
    }
}

/// <summary>
/// The embedded pipeline driver: receives envelopes from the inbound queue, runs the <see cref="InboundStage"/>,
/// completes on success, abandons with exponential backoff on failure and dead-letters after
/// <see cref="LocalWorkerOptions.MaxAttempts"/> (or at once for a <see cref="PermanentDeliveryException"/>).
/// Cancelling <see cref="RunAsync"/> stops receiving; envelopes already being processed are finished (drain).
/// </summary>
public sealed class LocalWorker(IMessageQueue inbound, InboundStage stage, LocalWorkerOptions options, ILogger<LocalWorker>? logger = null)
{
    private readonly ILogger _log = logger ?? NullLogger<LocalWorker>.Instance;

    /// <summary>Envelopes settled so far (completed or dead-lettered), for logs and tests.</summary>
    public long Processed => Interlocked.Read(ref _processed);

    private long _processed;

    public Task RunAsync(CancellationToken stoppingToken)
    {
        options.Validate();
        // Settling uses CancellationToken.None (HandleAsync): a message being processed is finished even during shutdown.
        return QueuePoller.RunAsync(inbound, options.Concurrency, options.LockDuration, options.PollInterval, HandleAsync, _log, stoppingToken);
    }

    /// <summary>Processes and settles one lease (<see cref="StageDriver"/>, as the Functions do); never throws.</summary>
    public Task HandleAsync(QueueLease lease) =>
        StageDriver.DriveAsync(new InboundQueueStage(stage, options.MaxAttempts, Backoff), lease.Envelope, lease.DeliveryCount, new CountingSettlement(this, new LeaseSettlement(inbound, lease, _log)), _log, CancellationToken.None);

    /// <summary>RetryDelay × 2^(attempt-1), capped at MaxRetryDelay.</summary>
    public TimeSpan Backoff(int attempt)
    {
        var factor = Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        var ms = Math.Min(options.RetryDelay.TotalMilliseconds * factor, options.MaxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>Counts the envelopes settled for good (completed or dead-lettered) for <see cref="Processed"/>.</summary>
    private sealed class CountingSettlement(LocalWorker worker, IDeliverySettlement inner) : IDeliverySettlement
    {
        public async Task CompleteAsync(CancellationToken cancellationToken)
        {
            await inner.CompleteAsync(cancellationToken);
            Interlocked.Increment(ref worker._processed);
        }

        public Task SendNextAsync(Envelope envelope, DateTimeOffset notBefore, CancellationToken cancellationToken) => inner.SendNextAsync(envelope, notBefore, cancellationToken);

        public Task RetryAsync(TimeSpan delay, Exception error, CancellationToken cancellationToken) => inner.RetryAsync(delay, error, cancellationToken);

        public async Task DeadLetterAsync(string reason, CancellationToken cancellationToken)
        {
            await inner.DeadLetterAsync(reason, cancellationToken);
            Interlocked.Increment(ref worker._processed);
        }
    }
}
