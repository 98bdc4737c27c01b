using Mail.Core.Model;

namespace Mail.Core.Ports;

/// <summary>
/// A durable queue of envelopes between stages ("inbound", "outbound"). At-least-once:
/// a received message that is neither completed nor dead-lettered before its lock expires
/// is delivered again, so every consumer must be idempotent.
/// Embedded: a spool directory. Cloud: Azure Storage Queues or Service Bus.
/// </summary>
public interface IMessageQueue
{
    string Name { get; }

    /// <summary>Enqueues durably; returns only after the envelope survives a crash.
    /// With <paramref name="notBefore"/> the envelope becomes visible at that time (scheduled send).</summary>
    Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default);

    /// <summary>Receives up to <paramref name="maxMessages"/> visible envelopes and locks them for <paramref name="lockDuration"/>.
    /// Returns an empty list when nothing is due.</summary>
    Task<IReadOnlyList<QueueLease>> ReceiveAsync(int maxMessages, TimeSpan lockDuration, CancellationToken cancellationToken = default);

    /// <summary>Removes a processed envelope for good.</summary>
    Task CompleteAsync(QueueLease lease, CancellationToken cancellationToken = default);

    /// <summary>Gives the envelope back to be tried again after <paramref name="delay"/> (retry with backoff).</summary>
    Task AbandonAsync(QueueLease lease, TimeSpan delay, CancellationToken cancellationToken = default);

    /// <summary>Moves the envelope aside for an operator, with the reason; it is never dropped.</summary>
    Task DeadLetterAsync(QueueLease lease, string reason, CancellationToken cancellationToken = default);

    /// <summary>Makes the waiting (not in-flight) envelopes with this queue id due now: an operator's "deliver now"
    /// (Postfix `postqueue -i`). Returns how many; a queue that cannot reorder its messages returns 0 (the default).</summary>
    Task<int> MakeDueAsync(string queueId, CancellationToken cancellationToken = default) => Task.FromResult(0);

    /// <summary>
    /// What an idle worker does between receives that found nothing: returns when an envelope may be due, and at the
    /// latest after <paramref name="maxWait"/>. The default sleeps <paramref name="maxWait"/> (polling: a cloud queue
    /// cannot tell this process that another one sent). A queue that sees its own sends (the embedded spool) returns
    /// as soon as one is made receivable, or when its earliest scheduled envelope or lock expiry comes.
    /// </summary>
    Task WaitForDueAsync(TimeSpan maxWait, CancellationToken cancellationToken = default) => Task.Delay(maxWait, cancellationToken);

    /// <summary>Everything waiting, in flight or dead-lettered, for `mailq`-style inspection.</summary>
    IAsyncEnumerable<QueueEntry> ListAsync(CancellationToken cancellationToken = default);
}

/// <summary>A received envelope together with what is needed to settle it.</summary>
/// <param name="DeliveryCount">1 on first delivery; grows with each redelivery.</param>
/// <param name="LockToken">Adapter-specific token (pop receipt, lock token, spool file name).</param>
public sealed record QueueLease(Envelope Envelope, int DeliveryCount, string LockToken);

public enum QueueEntryState { Ready, Scheduled, InFlight, DeadLettered }

public sealed record QueueEntry(Envelope Envelope, QueueEntryState State, DateTimeOffset? VisibleAt, int DeliveryCount, string? DeadLetterReason);
