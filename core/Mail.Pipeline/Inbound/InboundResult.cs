namespace Mail.Pipeline.Inbound;

/// <summary>What the inbound stage did with one envelope.</summary>
/// <param name="Delivered">Local deliveries (one per local recipient), including those found already done.</param>
/// <param name="Remote">Recipients handed to the outbound queue.</param>
/// <param name="UnknownLocal">Recipients in a local domain with no such user (removed after the edge accepted them): logged, not delivered.</param>
public sealed record InboundResult(
    Disposition Disposition,
    string? Reason,
    IReadOnlyList<LocalDelivery> Delivered,
    IReadOnlyList<string> Remote,
    IReadOnlyList<string> UnknownLocal);

public sealed record LocalDelivery(string User, string Mailbox, long Uid, string MessageRef, bool AlreadyPresent);

/// <summary>A failure that retrying cannot fix (the raw message is gone or is not a message): dead-letter at once.</summary>
public sealed class PermanentDeliveryException(string message, Exception? inner = null) : Exception(message, inner);
