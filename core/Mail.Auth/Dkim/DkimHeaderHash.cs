using System.Security.Cryptography;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Dkim;

/// <summary>
/// The data-hash of RFC 6376 3.7 step 2: the signed header fields (h=, bottom-up for repeated names) and the
/// DKIM-Signature field itself with an empty b=, canonicalized (3.4.1 simple, 3.4.2 relaxed) straight into an
/// <see cref="IncrementalHash"/> from MimeKit's raw field bytes. It feeds exactly the bytes MimeKit's
/// DkimVerifierBase writes (same field selection, Content-* fields from the body's header list, bare LF made
/// CRLF), without its stream, filter and signer objects, so the signature can be checked by OpenSSL's RSA.
/// </summary>
internal static class DkimHeaderHash
{
    public static byte[] Compute(HashAlgorithmName hashAlgorithm, MimeMessage message, Header signature, string[] signedHeaders,
        DkimCanonicalizationAlgorithm canonicalization)
    {
        using var hash = IncrementalHash.CreateHash(hashAlgorithm);
        var writer = new CrlfWriter(hash);
        var relaxed = canonicalization == DkimCanonicalizationAlgorithm.Relaxed;
        // How many fields of each name were used already: the next one is the next physically higher instance.
        Dictionary<string, int>? used = null;
        foreach (var field in signedHeaders)
        {
            var headers = field.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) && message.Body is { } body ? body.Headers : message.Headers;
            var count = 0;
            if (used is not null && used.TryGetValue(field, out var c)) count = c;
            var index = headers.LastIndexOf(field);
            for (var n = 0; n < count && --index >= 0;)
            {
                if (headers[index].Field.Equals(field, StringComparison.OrdinalIgnoreCase)) n++;
            }
            if (index < 0) continue;
            var header = headers[index];
            if (relaxed) WriteRelaxed(ref writer, header.Field, header.RawValue, signatureField: false);
            else WriteSimple(ref writer, header.RawField, header.RawValue, signatureField: false);
            used ??= new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            used[field] = count + 1;
        }

        var stripped = WithoutSignatureValue(signature.RawValue);
        if (relaxed) WriteRelaxed(ref writer, signature.Field, stripped, signatureField: true);
        else WriteSimple(ref writer, signature.RawField, stripped, signatureField: true);
        return hash.GetHashAndReset();
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    // RFC 6376 3.4.2: lower-case name, no WSP around the colon, runs of WSP (folding included) become one SP,
    // none at the end.
    private static void WriteRelaxed(ref CrlfWriter writer, string name, ReadOnlySpan<byte> value, bool signatureField)
    {
        Span<byte> lower = name.Length <= 128 ? stackalloc byte[name.Length] : new byte[name.Length];
        for (var i = 0; i < name.Length; i++)
        {
            var ch = name[i];
            lower[i] = (byte)(ch is >= 'A' and <= 'Z' ? ch + 32 : ch);
        }
        writer.Write(lower);
        writer.Write(":"u8);
        var index = 0;
        while (index < value.Length && IsWhitespace(value[index])) index++;
        while (index < value.Length)
        {
            var start = index;
            while (index < value.Length && IsWhitespace(value[index])) index++;
            if (index >= value.Length) break;
            if (index > start) writer.Write(" "u8);
            start = index;
            while (index < value.Length && !IsWhitespace(value[index])) index++;
            writer.Write(value[start..index]);
        }
        if (!signatureField) writer.Write("\r\n"u8);
    }

    // RFC 6376 3.4.1: the field as it is; the DKIM-Signature field being verified without its final line break.
    private static void WriteSimple(ref CrlfWriter writer, ReadOnlySpan<byte> rawField, ReadOnlySpan<byte> value, bool signatureField)
    {
        var length = value.Length;
        if (signatureField && length > 0 && value[length - 1] == (byte)'\n')
        {
            length--;
            if (length > 0 && value[length - 1] == (byte)'\r') length--;
        }
        writer.Write(rawField);
        writer.Write(":"u8);
        writer.Write(value[..length]);
    }

    /// <summary>The raw field value with the b= tag's value removed (RFC 6376 3.7), as MimeKit cuts it.</summary>
    private static byte[] WithoutSignatureValue(byte[] raw)
    {
        var value = (byte[])raw.Clone();
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

    /// <summary>Appends to the hash with every bare LF written as CRLF (MimeKit's Unix2Dos filter on the
    /// signature stream), remembering the last byte across writes.</summary>
    private struct CrlfWriter(IncrementalHash hash)
    {
        private byte _last;

        public void Write(ReadOnlySpan<byte> data)
        {
            if (data.IsEmpty) return;
            if (!data.Contains((byte)'\n'))
            {
                hash.AppendData(data);
                _last = data[^1];
                return;
            }
            var start = 0;
            for (var i = 0; i < data.Length; i++)
            {
                if (data[i] != (byte)'\n') continue;
                var before = i > 0 ? data[i - 1] : _last;
                if (before == (byte)'\r') continue;
                hash.AppendData(data[start..i]);
                hash.AppendData("\r"u8);
                start = i; // the LF goes out with the next chunk
            }
            hash.AppendData(data[start..]);
            _last = data[^1];
        }
    }
}
