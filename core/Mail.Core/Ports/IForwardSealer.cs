using MimeKit;

namespace Mail.Core.Ports;

/// <summary>
/// Seals mail that an alias forwards (ARC, RFC 8617) in the forwarding domain's name, so the next receiver can see
/// what our checks found before the forward (SPF of the original sender fails there: the path changed).
/// </summary>
public interface IForwardSealer
{
    /// <summary>The ARC set to put on top of <paramref name="message"/> (ARC-Seal, ARC-Message-Signature,
    /// ARC-Authentication-Results; complete fields ending in CRLF), or "" when <paramref name="domain"/> has no key to seal
    /// with. The message is left as it was found.</summary>
    ValueTask<string> SealAsync(MimeMessage message, string domain, CancellationToken cancellationToken);
}

/// <summary>Seals nothing: where no DKIM key store is configured.</summary>
public sealed class NoForwardSealer : IForwardSealer
{
    public static readonly NoForwardSealer Instance = new();
    public ValueTask<string> SealAsync(MimeMessage message, string domain, CancellationToken cancellationToken) => ValueTask.FromResult("");
}
