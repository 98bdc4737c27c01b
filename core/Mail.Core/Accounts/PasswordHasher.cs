using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Mail.Core.Accounts;

/// <summary>
/// Salted slow password hashes: PBKDF2-HMAC-SHA256, stored as "pbkdf2-sha256$iterations$salt$hash"
/// (base64), so the cost can be raised later without invalidating stored hashes.
/// <see cref="Verify"/> also accepts the SHA-crypt hashes users bring from Dovecot/Postfix passwd-files
/// ("$6$...", "$5$...", optionally with Dovecot's "{SHA512-CRYPT}"/"{SHA256-CRYPT}"/"{CRYPT}" prefix);
/// <see cref="Hash"/> always writes PBKDF2.
/// </summary>
public static class PasswordHasher
{
    /// <summary>OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.</summary>
    public const int DefaultIterations = 600_000;

    private const string Scheme = "pbkdf2-sha256";

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        return string.Join('$', Scheme, iterations.ToString(CultureInfo.InvariantCulture), Convert.ToBase64String(salt), Convert.ToBase64String(hash));
    }

    /// <summary>Loads the platform's SHA-256, SHA-512 and HMAC providers (OpenSSL on Linux) that <see cref="Verify"/>
    /// uses, so a server pays the library's load and initialisation when it starts, not in its first login.</summary>
    public static void LoadProviders()
    {
        Span<byte> digest = stackalloc byte[64];
        SHA256.HashData(ReadOnlySpan<byte>.Empty, digest);
        SHA512.HashData(ReadOnlySpan<byte>.Empty, digest);
        HMACSHA256.HashData("k"u8, ReadOnlySpan<byte>.Empty, digest);
        IncrementalHash.CreateHash(HashAlgorithmName.SHA512).Dispose();
    }

    public static bool Verify(string password, string stored)
    {
        if (ImportedHash(stored) is { } crypt) return ShaCrypt.Verify(password, crypt);
        return VerifyPbkdf2(password, stored);
    }

    /// <summary>Null when <paramref name="stored"/> is a hash <see cref="Verify"/> can check, else why not
    /// (for `mail user add --password-hash`).</summary>
    public static string? Validate(string stored)
    {
        if (ImportedHash(stored) is { } crypt)
            return ShaCrypt.Parse(crypt, requireHash: true, out var error) is null ? $"the SHA-crypt hash {error}" : null;
        if (stored.StartsWith('{'))
            return "the only {SCHEME} prefixes understood are {SHA512-CRYPT}, {SHA256-CRYPT} and {CRYPT} (with a $6$ or $5$ hash)";
        if (stored.StartsWith(Scheme + "$", StringComparison.Ordinal))
            return ParsePbkdf2(stored) is null ? "the pbkdf2-sha256 hash is not pbkdf2-sha256$iterations$salt$hash (base64)" : null;
        return "not a supported hash: expected $6$... or $5$... (SHA-crypt, optionally {SHA512-CRYPT}/{SHA256-CRYPT}) or pbkdf2-sha256$...";
    }

    /// <summary>The "$5$"/"$6$" string inside <paramref name="stored"/> (with its Dovecot scheme prefix removed),
    /// or null when it is not a SHA-crypt hash. A prefix that names the other variant is not accepted.</summary>
    private static string? ImportedHash(string stored)
    {
        var value = stored;
        string? scheme = null;
        if (value.StartsWith('{'))
        {
            var close = value.IndexOf('}', StringComparison.Ordinal);
            if (close < 0) return null;
            scheme = value[1..close].ToUpperInvariant();
            value = value[(close + 1)..];
        }
        var variant = value.StartsWith("$6$", StringComparison.Ordinal) ? "SHA512-CRYPT"
            : value.StartsWith("$5$", StringComparison.Ordinal) ? "SHA256-CRYPT" : null;
        if (variant is null) return null;
        return scheme is null || scheme == "CRYPT" || scheme == variant ? value : null;
    }

    private static bool VerifyPbkdf2(string password, string stored)
    {
        if (ParsePbkdf2(stored) is not var (iterations, salt, expected)) return false;
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static (int Iterations, byte[] Salt, byte[] Expected)? ParsePbkdf2(string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme) return null;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1) return null;
        byte[] salt, expected;
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            expected = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return null;
        }
        return expected.Length == 0 ? null : (iterations, salt, expected);
    }
}
