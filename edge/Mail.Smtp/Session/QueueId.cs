using System.Security.Cryptography;

namespace Mail.Smtp.Session;

/// <summary>
/// Queue ids in the ULID layout: 48-bit millisecond time then 80 random bits, in Crockford base32
/// (26 characters, upper case, no I L O U). Sortable by arrival time, unique without coordination
/// between edge instances, and safe as a file name, blob name or URL segment.
/// </summary>
public static class QueueId
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string New(DateTimeOffset now)
    {
        Span<byte> random = stackalloc byte[10];
        RandomNumberGenerator.Fill(random);
        return string.Create(26, (now.ToUnixTimeMilliseconds(), random.ToArray()), static (chars, state) =>
        {
            var (ms, rnd) = state;
            for (var i = 9; i >= 0; i--)
            {
                chars[i] = Alphabet[(int)(ms & 31)];
                ms >>= 5;
            }
            // 80 random bits = 16 characters of 5 bits.
            var bits = 0;
            var acc = 0;
            var c = 10;
            foreach (var b in rnd)
            {
                acc = (acc << 8) | b;
                bits += 8;
                while (bits >= 5)
                {
                    bits -= 5;
                    chars[c++] = Alphabet[(acc >> bits) & 31];
                }
            }
        });
    }
}
