using MimeKit;

namespace Mail.Core.Ports;

/// <summary>
/// Signs mail on its way out (DKIM, RFC 6376; Ed25519 per RFC 8463). The outbound stage sends the stored original
/// byte for byte and puts the header fields this returns in front of it, so signatures already in the message
/// (a relayed sender's own DKIM) still verify at the destination.
/// </summary>
public interface IOutboundSigner
{
    /// <summary>
    /// The header fields to prepend (each a complete field ending in CRLF, usually one DKIM-Signature per key), or
    /// an empty string when no key covers the message's From domain. <paramref name="message"/> is the stored message
    /// as the outbound stage parsed it, once per attempt: its header fields as stored (the Content-* ones also in the
    /// body entity's list, as MimeKit keeps them) and a body that writes the stored body bytes. The signer may add
    /// fields while it works but must leave the message as it found it.
    /// </summary>
    ValueTask<string> SignAsync(MimeMessage message, CancellationToken cancellationToken);
}

/// <summary>Signs nothing: the default where no DKIM key store is configured.</summary>
public sealed class NoOutboundSigner : IOutboundSigner
{
    public static readonly NoOutboundSigner Instance = new();
    public ValueTask<string> SignAsync(MimeMessage message, CancellationToken cancellationToken) => ValueTask.FromResult("");
}
