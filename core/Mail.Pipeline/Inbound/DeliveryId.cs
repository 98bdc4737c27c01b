using Mail.Core.Text;

namespace Mail.Pipeline.Inbound;

/// <summary>
/// Deterministic names for what one envelope delivers to one recipient, so a redelivered envelope finds
/// and reuses its earlier work instead of making a second copy.
/// </summary>
public static class DeliveryId
{
    /// <summary>The idempotency key for the mailbox store: "queueId/recipient".</summary>
    public static string Key(string queueId, string canonicalRecipient) => queueId + "/" + canonicalRecipient;

    /// <summary>Message-store id of the delivered copy: "dlv-{queueId}-{16 hex of SHA-256(recipient)}".
    /// Queue ids outside [A-Za-z0-9_-] (not expected from our edge) are hashed too, to stay a safe file/blob name.</summary>
    public static string MessageId(string queueId, string canonicalRecipient)
    {
        var q = queueId.Length is > 0 and <= 64 && queueId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? queueId
            : Sha256Hex.Of(queueId, 24);
        return $"dlv-{q}-{Sha256Hex.Of(canonicalRecipient, 16)}";
    }
}
