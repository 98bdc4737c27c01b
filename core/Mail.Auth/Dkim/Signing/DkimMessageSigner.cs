using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;
using Mail.Core.Messages;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Dkim.Signing;

/// <summary>
/// Signs outgoing mail whose From domain has keys in the <see cref="DkimKeyStore"/>: one DKIM-Signature per active
/// key (RSA and Ed25519 by default), relaxed/relaxed, over the usual header set with From signed once more than it
/// occurs (so no second From can be added without breaking the signature). The message itself is never rewritten:
/// only the new header fields are returned. The body is canonicalized and hashed once for all keys
/// (<see cref="DkimBodyHash"/>, the checks' own scan; every key signs with SHA-256 and the same canonicalization,
/// so bh= is the same), the header fields from the stored header section as the checks' verifier selects and reads
/// them (<see cref="RawMessage"/>, <see cref="DkimHeaderHash"/>): no MIME parse; MimeKit only reads the From address.
/// </summary>
public sealed class DkimMessageSigner : IOutboundSigner
{
    /// <summary>Signed when present, in this order (RFC 6376 5.4.1's list, less what transport changes).</summary>
    private static readonly string[] s_signedFields =
    [
        "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    ];

    private readonly DkimKeyStore _keys;
    private readonly TimeProvider _time;
    private readonly DkimCanonicalizationAlgorithm _bodyCanonicalization;

    /// <param name="bodyCanonicalization">c='s body half: relaxed by default; simple for tests that prove both.</param>
    public DkimMessageSigner(DkimKeyStore keys, TimeProvider? time = null,
        DkimCanonicalizationAlgorithm bodyCanonicalization = DkimCanonicalizationAlgorithm.Relaxed) =>
        (_keys, _time, _bodyCanonicalization) = (keys, time ?? TimeProvider.System, bodyCanonicalization);

    /// <summary>Signs a message given as bytes (its header section read and split here, the rest hashed as the body),
    /// as the outbound stage does with its stored original.</summary>
    public async ValueTask<string> SignAsync(Stream message, CancellationToken cancellationToken)
    {
        var header = RawMessage.Parse(await HeaderBlock.ReadAsync(message, HeaderBlock.MaxHeaderBytes, cancellationToken));
        var bodyStart = header.Bytes.Length;
        return await SignAsync(header, stream =>
        {
            message.Position = bodyStart;
            message.CopyTo(stream);
        }, cancellationToken);
    }

    public async ValueTask<string> SignAsync(RawMessage header, Action<Stream> writeBody, CancellationToken cancellationToken)
    {
        if (FromDomain(header) is not { } domain) return "";
        var signingKeys = await _keys.GetSigningKeysAsync(domain, cancellationToken);
        if (signingKeys.Count == 0) return "";
        return Sign(header, writeBody, signingKeys);
    }

    private string Sign(RawMessage header, Action<Stream> writeBody, IReadOnlyList<DkimSigningKey> signingKeys)
    {
        var fields = FieldsToSign(header);
        var bodyHash = Convert.ToBase64String(DkimBodyHash.Compute(writeBody, HashAlgorithmName.SHA256, _bodyCanonicalization));
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
            var headerHash = HeaderHash(header, fields, field.Value);
            field.Base64(Convert.ToBase64String(key.SignHeaderHash(headerHash)));
            result.Append("DKIM-Signature:").Append(field.Value).Append("\r\n");
        }
        return result.ToString();
    }

    /// <summary>RFC 6376 3.7 step 2 with relaxed header canonicalization: the signed fields (chosen as the verifier
    /// chooses them), then this signature's own field with an empty b=, without its line break.</summary>
    private static byte[] HeaderHash(RawMessage header, string[] fields, string signatureValue)
    {
        using var writer = new CanonicalHashWriter(HashAlgorithmName.SHA256);
        DkimHeaderHash.WriteSignedFields(writer, header, fields, relaxed: true);
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

    /// <summary>The domain of the first From mailbox (over every From field in order, as MimeKit's
    /// <c>MimeMessage.From</c> lists them), the one DMARC aligns with; null without one.</summary>
    private static string? FromDomain(RawMessage header)
    {
        for (var i = header.IndexOf("From"); i >= 0; i = header.IndexOf("From", i + 1))
        {
            var value = header.RawValue(header[i]).ToArray();
            if (!InternetAddressList.TryParse(ParserOptions.Default, value, 0, value.Length, out var list)) continue;
            if (list.Mailboxes.FirstOrDefault() is not { } mailbox) continue;
            return mailbox.Domain is { Length: > 0 } d ? Core.Model.Address.NormalizeDomain(d) : null;
        }
        return null;
    }

    private static string[] FieldsToSign(RawMessage header)
    {
        var fields = new List<string>();
        foreach (var name in s_signedFields)
        {
            var count = header.CountOf(name);
            if (name == "From") count++;
            var lower = name.ToLowerInvariant();
            for (var i = 0; i < count; i++) fields.Add(lower);
        }
        return [.. fields];
    }
}
