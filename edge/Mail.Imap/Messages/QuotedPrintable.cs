namespace Mail.Imap.Messages;

/// <summary>
/// Quoted-printable decoding for BINARY[] (RFC 3516) by RFC 2045 6.7: whitespace at the end of an encoded line is
/// transport padding and dropped; "=" ending a line (after that padding is dropped, so "= " + CRLF too) is a soft
/// line break; "=XX" is an octet; an "=" not followed by two hex digits is kept as it is.
/// </summary>
internal static class QuotedPrintable
{
    public static byte[] Decode(ReadOnlySpan<byte> encoded)
    {
        var output = new List<byte>(encoded.Length);
        while (!encoded.IsEmpty)
        {
            var lf = encoded.IndexOf((byte)'\n');
            var line = lf < 0 ? encoded : encoded[..lf];
            var hadBreak = lf >= 0;
            encoded = lf < 0 ? [] : encoded[(lf + 1)..];
            if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
            line = line.TrimEnd(" \t"u8);
            var soft = line.Length > 0 && line[^1] == '=';
            if (soft) line = line[..^1];
            for (var i = 0; i < line.Length; i++)
            {
                if (line[i] == '=' && i + 2 < line.Length && IsHex(line[i + 1]) && IsHex(line[i + 2]))
                {
                    output.Add((byte)(Hex(line[i + 1]) << 4 | Hex(line[i + 2])));
                    i += 2;
                }
                else output.Add(line[i]);
            }
            if (hadBreak && !soft)
            {
                output.Add((byte)'\r');
                output.Add((byte)'\n');
            }
        }
        return [.. output];
    }

    private static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'A' and <= (byte)'F' or >= (byte)'a' and <= (byte)'f';

    private static int Hex(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
