namespace Mail.Smtp.Session;

/// <summary>
/// Queue ids in the ULID layout: 48-bit millisecond time then 80 random bits, in Crockford base32
/// (26 characters, upper case, no I L O U). Sortable by arrival time, unique without coordination
/// between edge instances, and safe as a file name, blob name or URL segment.
/// </summary>
/// <remarks>
/// The random bits need to be unique, not secret: an id is printed in the 250 reply and the Received header, and
/// nothing is granted to whoever knows one. So they come from <see cref="Random.Shared"/> (seeded per thread from
/// the OS) rather than the cryptographic generator, whose per-call fork check was a few percent of the edge's CPU.
/// </remarks>
public static class QueueId
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string New(DateTimeOffset now)
    {
        var state = (Time: now.ToUnixTimeMilliseconds(), High: Random.Shared.NextInt64(1L << 40), Low: Random.Shared.NextInt64(1L << 40));
        return string.Create(26, state, static (chars, s) =>
        {
            Encode(chars[..10], s.Time);
            Encode(chars[10..18], s.High);
            Encode(chars[18..], s.Low);
        });
    }

    /// <summary>Writes the low 5 × <c>chars.Length</c> bits of <paramref name="value"/>, most significant first.</summary>
    private static void Encode(Span<char> chars, long value)
    {
        for (var i = chars.Length - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value & 31)];
            value >>= 5;
        }
    }
}
