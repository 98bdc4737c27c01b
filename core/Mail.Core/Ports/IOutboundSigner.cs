using Mail.Core.Messages;

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
    /// an empty string when no key covers the message's From domain. <paramref name="header"/> is the stored
    /// message's header section split into fields as stored (no MIME parse: the outbound stage's one split per
    /// attempt); <paramref name="writeBody"/> writes the stored body bytes, synchronously, to the stream it is given.
    /// </summary>
    ValueTask<string> SignAsync(RawMessage header, Action<Stream> writeBody, CancellationToken cancellationToken);
}

/// <summary>Signs nothing: the default where no DKIM key store is configured.</summary>
public sealed class NoOutboundSigner : IOutboundSigner
{
    public static readonly NoOutboundSigner Instance = new();
    public ValueTask<string> SignAsync(RawMessage header, Action<Stream> writeBody, CancellationToken cancellationToken) => ValueTask.FromResult("");
}
