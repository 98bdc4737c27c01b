using System.Text;
using Mail.Auth.Dkim.Signing;
using Mail.Core.Ports;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Mail.Auth.Arc;

/// <summary>
/// Adds an ARC set (RFC 8617) to forwarded mail with the forwarding domain's RSA DKIM key (ARC knows only rsa-sha256).
/// The ARC-Authentication-Results is our own Authentication-Results, the topmost one: the inbound check prepends it and
/// removes incoming ones that claim our authserv-id. Its <c>arc=</c> result becomes the seal's <c>cv=</c>.
/// </summary>
public sealed class ArcSealer(DkimKeyStore keys, TimeProvider? time = null) : IForwardSealer
{
    /// <summary>What the ARC-Message-Signature covers: the DKIM signer's list, less what the next hops may add.</summary>
    private static readonly string[] s_signedFields = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"];

    private static readonly FormatOptions s_format = CreateFormat();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public async ValueTask<string> SealAsync(MimeMessage message, string domain, CancellationToken cancellationToken)
    {
        var key = (await keys.GetSigningKeysAsync(domain, cancellationToken)).FirstOrDefault(k => k.Key.Algorithm == DkimKeyAlgorithm.Rsa);
        if (key is null) return "";
        var results = OurResults(message) ?? new AuthenticationResults(domain);
        var sealer = new Sealer(key, results, _time)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        var before = message.Headers.Count;
        var fields = s_signedFields.Where(f => message.Headers.Contains(f) || (message.Body?.Headers.Contains(f) ?? false)).Select(f => f.ToLowerInvariant()).ToArray();
        await sealer.SignAsync(s_format, message, fields, cancellationToken);
        // MimeKit puts the set on top; take it back out, in the order it stands.
        var set = new StringBuilder();
        for (var added = message.Headers.Count - before; added > 0; added--)
        {
            var field = message.Headers[0];
            message.Headers.RemoveAt(0);
            var value = Encoding.ASCII.GetString(field.RawValue).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
            set.Append(field.Field).Append(':').Append(value);
            if (!value.EndsWith("\r\n", StringComparison.Ordinal)) set.Append("\r\n");
        }
        return set.ToString();
    }

    private static AuthenticationResults? OurResults(MimeMessage message)
    {
        var field = message.Headers.FirstOrDefault(h => h.Field.Equals("Authentication-Results", StringComparison.OrdinalIgnoreCase));
        return field is not null && AuthenticationResults.TryParse(field.RawValue, out var parsed) ? parsed : null;
    }

    private static FormatOptions CreateFormat()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        return format;
    }

    private sealed class Sealer(DkimSigningKey key, AuthenticationResults results, TimeProvider time)
        : ArcSigner(key.PrivateKey, key.Key.Domain, key.Key.Selector, DkimSignatureAlgorithm.RsaSha256)
    {
        protected override long GetTimestamp() => time.GetUtcNow().ToUnixTimeSeconds();

        protected override AuthenticationResults GenerateArcAuthenticationResults(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) => results;

        protected override Task<AuthenticationResults> GenerateArcAuthenticationResultsAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
            Task.FromResult(results);

        protected override ISigner CreateSigningContext() => key.CreatePlatformSigner() ?? base.CreateSigningContext();
    }
}
