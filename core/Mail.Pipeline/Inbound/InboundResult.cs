namespace Mail.Pipeline.Inbound;

/// <summary>What the inbound stage did with one envelope.</summary>
/// <param name="Delivered">Local deliveries (one per local recipient), including those found already done.</param>
/// <param name="Remote">Recipients handed to the outbound queue.</param>
/// <param name="UnknownLocal">Recipients in a local domain with no such user (removed after the edge accepted them): logged, not delivered.</param>
/// <param name="Forwarded">Remote alias targets (and reversed SRS addresses) handed to the outbound queue in a copy of
/// their own, with the SRS sender.</param>
public sealed record InboundResult(
    Disposition Disposition,
    string? Reason,
    IReadOnlyList<LocalDelivery> Delivered,
    IReadOnlyList<string> Remote,
    IReadOnlyList<string> UnknownLocal,
    IReadOnlyList<string>? Forwarded = null)
{
    public IReadOnlyList<string> Forwarded { get; } = Forwarded ?? [];

    /// <summary>Every copy lives elsewhere (mailboxes, the forwarded copy) and the outbound queue does not reference the
    /// original: the worker may delete it.</summary>
    public bool OriginalDone => (Delivered.Count > 0 || Forwarded.Count > 0) && Remote.Count == 0;
}

public sealed record LocalDelivery(string User, string Mailbox, long Uid, string MessageRef, bool AlreadyPresent);

/// <summary>A failure that retrying cannot fix (the raw message is gone or is not a message): dead-letter at once.</summary>
public sealed class PermanentDeliveryException(string message, Exception? inner = null) : Exception(message, inner);
