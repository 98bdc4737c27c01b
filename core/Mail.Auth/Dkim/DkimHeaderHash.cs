using System.Security.Cryptography;
using Mail.Core.Messages;
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
        WriteSignedFields(writer, message, signedHeaders, relaxed);

        // The DKIM-Signature field itself with b='s value cut out: the parts before and after it, written in turn.
        var signature = message[signatureIndex];
        var raw = message.RawValue(signature);
        var (cutStart, cutEnd) = SignatureValueRange(raw);
        if (relaxed) WriteRelaxed(writer, message.Name(signature), raw[..cutStart], raw[cutEnd..], signatureField: true);
        else WriteSimple(writer, message.RawName(signature), raw[..cutStart], raw[cutEnd..], signatureField: true);
        return writer.GetHash();
    }

    /// <summary>The fields h= names, canonicalized: a repeated name takes the next physically higher instance
    /// (RFC 6376 5.4.2), a name with no field left signs nothing. The verifier's and the signer's one selection.</summary>
    internal static void WriteSignedFields(CanonicalHashWriter writer, RawMessage message, IReadOnlyList<string> signedHeaders, bool relaxed)
    {
        Span<bool> used = message.Count <= 256 ? stackalloc bool[message.Count] : new bool[message.Count];
        foreach (var name in signedHeaders)
        {
            var index = message.Count - 1;
            while (index >= 0 && (used[index] || !message.Is(message[index], name))) index--;
            if (index < 0) continue;
            used[index] = true;
            var field = message[index];
            if (relaxed) WriteRelaxed(writer, message.Name(field), message.RawValue(field), default, signatureField: false);
            else WriteSimple(writer, message.RawName(field), message.RawValue(field), default, signatureField: false);
        }
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    // RFC 6376 3.4.2: lower-case name, no WSP around the colon, runs of WSP (folding included) become one SP,
    // none at the end. The value comes in two parts (the signature field without its b= value); a run of WSP may
    // span them.
    internal static void WriteRelaxed(CanonicalHashWriter writer, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, ReadOnlySpan<byte> rest, bool signatureField)
    {
        foreach (var b in name) writer.Write(b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b);
        writer.Write((byte)':');
        var written = false;
        var space = false;
        WriteReduced(writer, value, ref written, ref space);
        WriteReduced(writer, rest, ref written, ref space);
        if (!signatureField) writer.Write("\r\n"u8);
    }

    private static void WriteReduced(CanonicalHashWriter writer, ReadOnlySpan<byte> value, ref bool written, ref bool space)
    {
        while (!value.IsEmpty)
        {
            var word = value.IndexOfAny(Whitespace);
            if (word != 0)
            {
                // A run of non-WSP bytes: after WSP (not at the start) it gets its one SP.
                var end = word < 0 ? value.Length : word;
                if (space && written) writer.Write((byte)' ');
                writer.Write(value[..end]);
                written = true;
                space = false;
                value = value[end..];
                continue;
            }
            space = true;
            var run = value.IndexOfAnyExcept(Whitespace);
            value = run < 0 ? default : value[run..];
        }
    }

    private static readonly System.Buffers.SearchValues<byte> Whitespace = System.Buffers.SearchValues.Create(" \t\r\n"u8);

    // RFC 6376 3.4.1: the field as it is; the DKIM-Signature field being verified without its final line break.
    private static void WriteSimple(CanonicalHashWriter writer, ReadOnlySpan<byte> rawName, ReadOnlySpan<byte> value, ReadOnlySpan<byte> rest, bool signatureField)
    {
        // The final line break belongs to the last part that has bytes.
        ref var last = ref rest.IsEmpty ? ref value : ref rest;
        var length = last.Length;
        if (signatureField && length > 0 && last[length - 1] == (byte)'\n')
        {
            length--;
            if (length > 0 && last[length - 1] == (byte)'\r') length--;
        }
        last = last[..length];
        writer.WriteCrlf(rawName);
        writer.WriteCrlf(":"u8);
        writer.WriteCrlf(value);
        writer.WriteCrlf(rest);
        // A last field without a line ending (a message that is all header) is hashed with CRLF, as when it had one.
        if (!signatureField && (last.IsEmpty || last[^1] != (byte)'\n')) writer.Write("\r\n"u8);
    }

    /// <summary>Where the b= tag's value lies in the raw field value (RFC 6376 3.7), found as MimeKit cuts it: the
    /// hash covers the bytes before <c>Start</c> and from <c>End</c> on.</summary>
    private static (int Start, int End) SignatureValueRange(ReadOnlySpan<byte> value)
    {
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
        return (length, index);
    }
}
