using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Mail.Core.Accounts;

/// <summary>
/// The crypt(3) SHA-crypt hashes of Ulrich Drepper's specification (akkadia.org/drepper/SHA-crypt.txt):
/// "$5$[rounds=N$]salt$hash" (SHA-256) and "$6$[rounds=N$]salt$hash" (SHA-512), as glibc, libxcrypt, Dovecot
/// (SHA256-CRYPT, SHA512-CRYPT) and `openssl passwd -5/-6` write them. Only verified here, so users who move
/// from Dovecot/Postfix keep their passwords; new hashes are PBKDF2 (<see cref="PasswordHasher.Hash"/>).
/// Written by hand: .NET has SHA-256/512 but no SHA-crypt.
/// </summary>
public static class ShaCrypt
{
    public const int DefaultRounds = 5000;
    public const int MinRounds = 1000;
    public const int MaxRounds = 999_999_999;
    public const int MaxSaltLength = 16;

    private const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>A parsed "$5$..." or "$6$..." string.</summary>
    public sealed record Setting(int Variant, int Rounds, bool RoundsGiven, string Salt, string? Hash)
    {
        public int DigestLength => Variant == 5 ? 32 : 64;
        public int EncodedLength => Variant == 5 ? 43 : 86;
    }

    /// <summary>Parses "$5$[rounds=N$]salt[$hash]". The salt is cut to 16 characters and rounds are clamped to
    /// [1000, 999999999] as the specification says. With <paramref name="requireHash"/> the hash part must be there
    /// and have the exact length and alphabet. Null with a reason when the string is not SHA-crypt.</summary>
    public static Setting? Parse(string value, bool requireHash, out string? error)
    {
        error = null;
        int variant;
        if (value.StartsWith("$5$", StringComparison.Ordinal)) variant = 5;
        else if (value.StartsWith("$6$", StringComparison.Ordinal)) variant = 6;
        else
        {
            error = "does not start with $5$ or $6$";
            return null;
        }
        var rest = value.AsSpan(3);
        var rounds = DefaultRounds;
        var roundsGiven = false;
        if (rest.StartsWith("rounds="))
        {
            var end = rest.IndexOf('$');
            if (end < 0 || !long.TryParse(rest[7..end], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                error = "has a rounds= field that is not a number followed by $";
                return null;
            }
            rounds = (int)Math.Clamp(n, MinRounds, MaxRounds);
            roundsGiven = true;
            rest = rest[(end + 1)..];
        }
        var saltEnd = rest.IndexOf('$');
        var salt = saltEnd < 0 ? rest : rest[..saltEnd];
        if (salt.Length > MaxSaltLength) salt = salt[..MaxSaltLength];
        foreach (var c in salt)
        {
            if (c is ':' or '\n' or '\r' or '\0' || char.IsWhiteSpace(c) || c > '~')
            {
                error = "has a salt with characters outside printable ASCII (or ':')";
                return null;
            }
        }
        string? hash = null;
        if (saltEnd >= 0)
        {
            if (rest.Length - saltEnd - 1 > 0 || requireHash) hash = rest[(saltEnd + 1)..].ToString();
            // "$6$salt$" with an empty hash and requireHash false is a setting, not a hash.
        }
        var setting = new Setting(variant, rounds, roundsGiven, salt.ToString(), hash);
        if (requireHash)
        {
            // A salt longer than 16 characters means the stored string had more before the hash: not ours.
            if (saltEnd < 0 || saltEnd > MaxSaltLength)
            {
                error = "has no $hash part after a salt of at most 16 characters";
                return null;
            }
            if (hash!.Length != setting.EncodedLength || hash.Any(c => !Alphabet.Contains(c, StringComparison.Ordinal)))
            {
                error = $"has a hash part that is not {setting.EncodedLength} characters of [./0-9A-Za-z]";
                return null;
            }
        }
        return setting;
    }

    /// <summary>crypt(password, setting) for a "$5$..."/"$6$..." setting: the whole "$id$[rounds=N$]salt$hash" string.</summary>
    public static string Crypt(string password, string setting)
    {
        var s = Parse(setting, requireHash: false, out var error) ?? throw new FormatException($"Not a SHA-crypt setting: it {error}.");
        return Format(s, Compute(Encoding.UTF8.GetBytes(password), s));
    }

    /// <summary>True when <paramref name="password"/> gives <paramref name="stored"/>; the encoded hashes are
    /// compared in constant time. False for anything that is not a well-formed SHA-crypt hash.</summary>
    public static bool Verify(string password, string stored)
    {
        var s = Parse(stored, requireHash: true, out _);
        if (s is null) return false;
        var computed = Encode(Compute(Encoding.UTF8.GetBytes(password), s), s.Variant);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(computed), Encoding.ASCII.GetBytes(s.Hash!));
    }

    private static string Format(Setting s, byte[] digest)
    {
        var sb = new StringBuilder();
        sb.Append('$').Append(s.Variant).Append('$');
        if (s.RoundsGiven) sb.Append("rounds=").Append(s.Rounds.ToString(CultureInfo.InvariantCulture)).Append('$');
        return sb.Append(s.Salt).Append('$').Append(Encode(digest, s.Variant)).ToString();
    }

    /// <summary>Steps 1-21 of the specification.</summary>
    private static byte[] Compute(byte[] p, Setting setting)
    {
        var name = setting.Variant == 5 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA512;
        var n = setting.DigestLength;
        var salt = Encoding.ASCII.GetBytes(setting.Salt);

        // Digest B = H(P S P).
        byte[] b;
        using (var h = IncrementalHash.CreateHash(name))
        {
            h.AppendData(p);
            h.AppendData(salt);
            h.AppendData(p);
            b = h.GetHashAndReset();
        }

        // Digest A = H(P S, B repeated over len(P), then B or P for each bit of len(P)).
        byte[] a;
        using (var h = IncrementalHash.CreateHash(name))
        {
            h.AppendData(p);
            h.AppendData(salt);
            int left;
            for (left = p.Length; left > n; left -= n) h.AppendData(b);
            h.AppendData(b, 0, left);
            for (var bits = p.Length; bits > 0; bits >>= 1) h.AppendData((bits & 1) != 0 ? b : p);
            a = h.GetHashAndReset();
        }

        // P sequence: len(P) bytes of H(P repeated len(P) times).
        var pSequence = new byte[p.Length];
        using (var h = IncrementalHash.CreateHash(name))
        {
            for (var i = 0; i < p.Length; i++) h.AppendData(p);
            Fill(pSequence, h.GetHashAndReset());
        }

        // S sequence: len(S) bytes of H(S repeated 16 + A[0] times).
        var sSequence = new byte[salt.Length];
        using (var h = IncrementalHash.CreateHash(name))
        {
            for (var i = 0; i < 16 + a[0]; i++) h.AppendData(salt);
            Fill(sSequence, h.GetHashAndReset());
        }

        // The rounds: each one hashes a mix of the previous digest, the P and the S sequences.
        var c = a;
        var buffer = new byte[2 * n + 2 * pSequence.Length + sSequence.Length];
        var next = new byte[n];
        for (var i = 0; i < setting.Rounds; i++)
        {
            var len = 0;
            void Put(ReadOnlySpan<byte> x)
            {
                x.CopyTo(buffer.AsSpan(len));
                len += x.Length;
            }
            if ((i & 1) != 0) Put(pSequence);
            else Put(c);
            if (i % 3 != 0) Put(sSequence);
            if (i % 7 != 0) Put(pSequence);
            if ((i & 1) != 0) Put(c);
            else Put(pSequence);
            if (setting.Variant == 5) SHA256.HashData(buffer.AsSpan(0, len), next);
            else SHA512.HashData(buffer.AsSpan(0, len), next);
            (c, next) = (next, c);
        }
        return c;
    }

    private static void Fill(byte[] sequence, byte[] digest)
    {
        for (var i = 0; i < sequence.Length; i += digest.Length)
            digest.AsSpan(0, Math.Min(digest.Length, sequence.Length - i)).CopyTo(sequence.AsSpan(i));
    }

    // The byte order of the final base64 step (step 22 of the specification).
    private static readonly int[] Order512 =
    [
        0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51,
        31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60,
        40, 61, 19, 62, 20, 41,
    ];

    private static readonly int[] Order256 = [0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29];

    private static string Encode(byte[] d, int variant)
    {
        var sb = new StringBuilder(86);
        var order = variant == 5 ? Order256 : Order512;
        for (var i = 0; i < order.Length; i += 3) Put(sb, d[order[i]], d[order[i + 1]], d[order[i + 2]], 4);
        if (variant == 5) Put(sb, 0, d[31], d[30], 3);
        else Put(sb, 0, 0, d[63], 2);
        return sb.ToString();
    }

    private static void Put(StringBuilder sb, byte b2, byte b1, byte b0, int chars)
    {
        var w = (b2 << 16) | (b1 << 8) | b0;
        for (var i = 0; i < chars; i++)
        {
            sb.Append(Alphabet[w & 0x3f]);
            w >>= 6;
        }
    }
}
