using System.Text;
using Mail.Core.Ports;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Mail.Auth.Dkim.Signing;

/// <summary>
/// Signs outgoing mail whose From domain has keys in the <see cref="DkimKeyStore"/>: one DKIM-Signature per active
/// key (RSA and Ed25519 by default), relaxed/relaxed, over the usual header set with From signed once more than it
/// occurs (so no second From can be added without breaking the signature). MimeKit canonicalizes and signs from the
/// message's raw bytes; the message itself is never rewritten: only the new header fields are returned.
/// </summary>
public sealed class DkimMessageSigner(DkimKeyStore keys, TimeProvider? time = null) : IOutboundSigner
{
    /// <summary>Signed when present, in this order (RFC 6376 5.4.1's list, less what transport changes).</summary>
    private static readonly string[] s_signedFields =
    [
        "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    ];

    private static readonly FormatOptions s_format = CreateFormat();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Signs a message given as bytes (parsed here); the outbound stage gives its own parse instead.</summary>
    public async ValueTask<string> SignAsync(Stream message, CancellationToken cancellationToken)
    {
        MimeMessage mime;
        try
        {
            mime = await new MimeParser(message, MimeFormat.Entity, persistent: false).ParseMessageAsync(cancellationToken);
        }
        catch (FormatException)
        {
            // Not a message MimeKit can read (no header block): it goes out unsigned rather than not at all.
            return "";
        }
        return await SignAsync(mime, cancellationToken);
    }

    public async ValueTask<string> SignAsync(MimeMessage mime, CancellationToken cancellationToken)
    {
        if (FromDomain(mime) is not { } domain) return "";
        var signingKeys = await keys.GetSigningKeysAsync(domain, cancellationToken);
        if (signingKeys.Count == 0) return "";

        var fields = FieldsToSign(mime);
        var result = new StringBuilder();
        foreach (var key in signingKeys)
        {
            var signer = new Signer(key, _time)
            {
                HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
                BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            };
            signer.Sign(s_format, mime, fields);
            // MimeKit puts the new field on top; take it back out so the next key signs the message as it was.
            var signature = mime.Headers[0];
            mime.Headers.RemoveAt(0);
            AppendField(result, signature);
        }
        return result.ToString();
    }

    /// <summary>The domain of the (first) From mailbox, the one DMARC aligns with; null without one.</summary>
    private static string? FromDomain(MimeMessage message) =>
        message.From.Mailboxes.FirstOrDefault()?.Domain is { Length: > 0 } d ? Core.Model.Address.NormalizeDomain(d) : null;

    private static string[] FieldsToSign(MimeMessage message)
    {
        var fields = new List<string>();
        foreach (var name in s_signedFields)
        {
            // MimeKit keeps a parsed message's Content-* fields with its body entity, and signs them from there.
            var headers = name.StartsWith("Content-", StringComparison.Ordinal) ? message.Body?.Headers : message.Headers;
            var count = headers?.Count(h => h.Field.Equals(name, StringComparison.OrdinalIgnoreCase)) ?? 0;
            if (name == "From") count++;
            for (var i = 0; i < count; i++) fields.Add(name.ToLowerInvariant());
        }
        return [.. fields];
    }

    /// <summary>"DKIM-Signature:" and MimeKit's folded value, with CRLF line ends whatever the platform's.</summary>
    private static void AppendField(StringBuilder to, Header header)
    {
        var value = Encoding.ASCII.GetString(header.RawValue).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        to.Append(header.Field).Append(':').Append(value);
        if (!value.EndsWith("\r\n", StringComparison.Ordinal)) to.Append("\r\n");
    }

    private static FormatOptions CreateFormat()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        return format;
    }

    private sealed class Signer(DkimSigningKey key, TimeProvider time)
        : DkimSigner(key.PrivateKey, key.Key.Domain, key.Key.Selector, key.SignatureAlgorithm)
    {
        protected override long GetTimestamp() => time.GetUtcNow().ToUnixTimeSeconds();

        protected override ISigner CreateSigningContext() => key.CreatePlatformSigner() ?? base.CreateSigningContext();
    }
}
