using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Dkim.Signing;

/// <summary>
/// Signs outgoing mail whose From domain has keys in the <see cref="DkimKeyStore"/>: one DKIM-Signature per active
/// key (RSA and Ed25519 by default), relaxed/relaxed, over the usual header set with From signed once more than it
/// occurs (so no second From can be added without breaking the signature). The message itself is never rewritten:
/// only the new header fields are returned. The body is canonicalized and hashed once for all keys
/// (<see cref="DkimBodyHash"/>, the checks' own scan; every key signs with SHA-256 and the same canonicalization,
/// so bh= is the same), the header fields as the checks' verifier reads them (<see cref="DkimHeaderHash"/>); MimeKit
/// only supplies the parsed header fields and writes the body.
/// </summary>
public sealed class DkimMessageSigner : IOutboundSigner
{
    /// <summary>Signed when present, in this order (RFC 6376 5.4.1's list, less what transport changes).</summary>
    private static readonly string[] s_signedFields =
    [
        "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    ];

    private static readonly FormatOptions s_format = CreateFormat();
    private readonly DkimKeyStore _keys;
    private readonly TimeProvider _time;
    private readonly DkimCanonicalizationAlgorithm _bodyCanonicalization;

    /// <param name="bodyCanonicalization">c='s body half: relaxed by default; simple for tests that prove both.</param>
    public DkimMessageSigner(DkimKeyStore keys, TimeProvider? time = null,
        DkimCanonicalizationAlgorithm bodyCanonicalization = DkimCanonicalizationAlgorithm.Relaxed) =>
        (_keys, _time, _bodyCanonicalization) = (keys, time ?? TimeProvider.System, bodyCanonicalization);

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
        var signingKeys = await _keys.GetSigningKeysAsync(domain, cancellationToken);
        if (signingKeys.Count == 0) return "";
        return Sign(mime, signingKeys);
    }

    private string Sign(MimeMessage mime, IReadOnlyList<DkimSigningKey> signingKeys)
    {
        var fields = FieldsToSign(mime);
        var signed = SignedHeaders(mime, fields);
        // What MimeKit's signer hashed: the body entity's content as it writes it, CRLF line ends.
        var bodyHash = Convert.ToBase64String(DkimBodyHash.Compute(
            stream => mime.Body?.WriteTo(s_format, stream, contentOnly: true), HashAlgorithmName.SHA256, _bodyCanonicalization));
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        var canonicalization = _bodyCanonicalization == DkimCanonicalizationAlgorithm.Relaxed ? "relaxed/relaxed" : "relaxed/simple";
        var result = new StringBuilder();
        foreach (var key in signingKeys)
        {
            var field = new SignatureField();
            field.Tag("v=1;");
            field.Tag($"a={(key.Key.Algorithm == DkimKeyAlgorithm.Rsa ? "rsa-sha256" : "ed25519-sha256")};");
            field.Tag($"c={canonicalization};");
            field.Tag($"d={key.Key.Domain};");
            field.Tag($"s={key.Key.Selector};");
            field.Tag(FormattableString.Invariant($"t={timestamp};"));
            field.List("h=", fields, ':');
            field.Tag($"bh={bodyHash};");
            field.Tag("b=");
            var headerHash = HeaderHash(signed, field.Value);
            field.Base64(Convert.ToBase64String(key.SignHeaderHash(headerHash)));
            result.Append("DKIM-Signature:").Append(field.Value).Append("\r\n");
        }
        return result.ToString();
    }

    /// <summary>The field each h= name signs (RFC 6376 5.4.2: repeated names from the bottom up; a name with no field
    /// left, as From's extra one, signs nothing), read from the list MimeKit keeps it in.</summary>
    private static List<Header> SignedHeaders(MimeMessage mime, string[] fields)
    {
        var used = new HashSet<Header>(ReferenceEqualityComparer.Instance);
        var signed = new List<Header>(fields.Length);
        foreach (var name in fields)
        {
            var headers = name.StartsWith("content-", StringComparison.Ordinal) ? mime.Body?.Headers : mime.Headers;
            if (headers is null) continue;
            for (var i = headers.Count - 1; i >= 0; i--)
            {
                var header = headers[i];
                if (!header.Field.Equals(name, StringComparison.OrdinalIgnoreCase) || !used.Add(header)) continue;
                signed.Add(header);
                break;
            }
        }
        return signed;
    }

    /// <summary>RFC 6376 3.7 step 2 with relaxed header canonicalization: the signed fields, then this signature's own
    /// field with an empty b=, without its line break.</summary>
    private static byte[] HeaderHash(List<Header> signed, string signatureValue)
    {
        using var writer = new CanonicalHashWriter(HashAlgorithmName.SHA256);
        foreach (var header in signed)
        {
            DkimHeaderHash.WriteRelaxed(writer, Encoding.ASCII.GetBytes(header.Field), header.RawValue, default, signatureField: false);
        }
        DkimHeaderHash.WriteRelaxed(writer, "DKIM-Signature"u8, Encoding.ASCII.GetBytes(signatureValue), default, signatureField: true);
        return writer.GetHash();
    }

    /// <summary>A DKIM-Signature value folded as it is built: tags separated by a space, a new line (CRLF TAB) before
    /// one that would pass 76 columns; h= breaks after a colon, b= every 72 characters.</summary>
    private sealed class SignatureField
    {
        private const int Width = 76;
        private readonly StringBuilder _value = new();
        private int _column = "DKIM-Signature:".Length;

        public string Value => _value.ToString();

        public void Tag(string tag)
        {
            if (_column + 1 + tag.Length > Width && _column > 1) Break();
            else Space();
            Append(tag);
        }

        public void List(string tag, string[] items, char separator)
        {
            Tag(tag + items[0] + (items.Length == 1 ? ";" : separator.ToString()));
            for (var i = 1; i < items.Length; i++)
            {
                var item = items[i] + (i == items.Length - 1 ? ";" : separator.ToString());
                if (_column + item.Length > Width) Break();
                Append(item);
            }
        }

        public void Base64(string value)
        {
            for (var at = 0; at < value.Length; at += 72)
            {
                if (at > 0 || _column + Math.Min(72, value.Length) > Width) Break();
                Append(value.Substring(at, Math.Min(72, value.Length - at)));
            }
        }

        private void Space()
        {
            _value.Append(' ');
            _column++;
        }

        private void Break()
        {
            _value.Append("\r\n\t");
            _column = 8;
        }

        private void Append(string text)
        {
            _value.Append(text);
            _column += text.Length;
        }
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

    private static FormatOptions CreateFormat()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        return format;
    }
}
