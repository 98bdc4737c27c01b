using System.Security.Cryptography;
using Mail.Auth.Message;
using MimeKit.Cryptography;

namespace Mail.Auth.Dkim;

/// <summary>
/// The data-hash of RFC 6376 3.7 step 2: the signed header fields (h=, bottom-up for repeated names, names that
/// match no field skipped) and the DKIM-Signature field itself with an empty b=, canonicalized (3.4.1 simple,
/// 3.4.2 relaxed) from the stored bytes straight into the hash. A bare LF in a field is hashed as CRLF (as MimeKit
/// and dkimpy do). The result is what RSA or Ed25519 verifies.
/// </summary>
internal static class DkimHeaderHash
{
    public static byte[] Compute(HashAlgorithmName hashAlgorithm, RawMessage message, int signatureIndex, string[] signedHeaders,
        DkimCanonicalizationAlgorithm canonicalization)
    {
        using var writer = new CanonicalHashWriter(hashAlgorithm);
        var relaxed = canonicalization == DkimCanonicalizationAlgorithm.Relaxed;
        // The fields used already, so that a repeated name takes the next physically higher instance.
        Span<bool> used = message.Count <= 256 ? stackalloc bool[message.Count] : new bool[message.Count];
        foreach (var name in signedHeaders)
        {
            var index = message.Count - 1;
            while (index >= 0 && (used[index] || !message.Is(message[index], name))) index--;
            if (index < 0) continue;
            used[index] = true;
            var field = message[index];
            if (relaxed) WriteRelaxed(writer, message.Name(field), message.RawValue(field), signatureField: false);
            else WriteSimple(writer, message.RawName(field), message.RawValue(field), signatureField: false);
        }

        var signature = message[signatureIndex];
        var stripped = WithoutSignatureValue(message.RawValue(signature));
        if (relaxed) WriteRelaxed(writer, message.Name(signature), stripped, signatureField: true);
        else WriteSimple(writer, message.RawName(signature), stripped, signatureField: true);
        return writer.GetHash();
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    // RFC 6376 3.4.2: lower-case name, no WSP around the colon, runs of WSP (folding included) become one SP,
    // none at the end.
    private static void WriteRelaxed(CanonicalHashWriter writer, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, bool signatureField)
    {
        foreach (var b in name) writer.Write(b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b);
        writer.Write((byte)':');
        var index = 0;
        while (index < value.Length && IsWhitespace(value[index])) index++;
        while (index < value.Length)
        {
            var start = index;
            while (index < value.Length && IsWhitespace(value[index])) index++;
            if (index >= value.Length) break;
            if (index > start) writer.Write((byte)' ');
            start = index;
            while (index < value.Length && !IsWhitespace(value[index])) index++;
            writer.Write(value[start..index]);
        }
        if (!signatureField) writer.Write("\r\n"u8);
    }

    // RFC 6376 3.4.1: the field as it is; the DKIM-Signature field being verified without its final line break.
    private static void WriteSimple(CanonicalHashWriter writer, ReadOnlySpan<byte> rawName, ReadOnlySpan<byte> value, bool signatureField)
    {
        var length = value.Length;
        if (signatureField && length > 0 && value[length - 1] == (byte)'\n')
        {
            length--;
            if (length > 0 && value[length - 1] == (byte)'\r') length--;
        }
        writer.WriteCrlf(rawName);
        writer.WriteCrlf(":"u8);
        writer.WriteCrlf(value[..length]);
        // A last field without a line ending (a message that is all header) is hashed with CRLF, as when it had one.
        if (!signatureField && (length == 0 || value[length - 1] != (byte)'\n')) writer.Write("\r\n"u8);
    }

    /// <summary>The raw field value with the b= tag's value removed (RFC 6376 3.7), as MimeKit cuts it.</summary>
    private static byte[] WithoutSignatureValue(ReadOnlySpan<byte> raw)
    {
        var value = raw.ToArray();
        int length = 0, index = 0;
        do
        {
            while (index < value.Length && IsWhitespace(value[index])) index++;
            if (index + 2 < value.Length)
            {
                var tag = value[index++];
                while (index < value.Length && IsWhitespace(value[index])) index++;
                if (index < value.Length && value[index] == (byte)'=' && tag == (byte)'b')
                {
                    length = ++index;
                    while (index < value.Length && value[index] != (byte)';') index++;
                    if (index == value.Length && value[index - 1] == (byte)'\n')
                    {
                        index--;
                        if (value[index - 1] == (byte)'\r') index--;
                    }
                    break;
                }
            }
            while (index < value.Length && value[index] != (byte)';') index++;
            if (index < value.Length) index++;
        } while (index < value.Length);
        if (index == value.Length) throw new FormatException("Malformed DKIM-Signature header: missing signature parameter.");
        while (index < value.Length) value[length++] = value[index++];
        Array.Resize(ref value, length);
        return value;
    }
}
