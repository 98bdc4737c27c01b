using System.Security.Cryptography;
using System.Text;

namespace Mail.Core.Forwarding;

/// <summary>
/// The Sender Rewriting Scheme's SRS0 form, as libsrs2 (postsrsd, Postfix's usual SRS daemon) writes and reads it:
/// <c>SRS0=HHHH=TT=domain=local@forwarding-domain</c>. HHHH is the first four characters of the base64
/// HMAC-SHA1, under our secret, of the lower-cased timestamp, domain and local part; TT is the day number modulo
/// 1024 in two base32 characters. Forwarded mail leaves with this reverse-path, so the receiver's SPF check is about
/// our domain; a bounce to it comes back to us and only we can turn it into the original sender again.
/// </summary>
public sealed class Srs0
{
    /// <summary>How long a rewritten address is honoured: postsrsd's default.</summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromDays(21);

    private const string Base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private const int HashLength = 4;
    private const int TimeSlots = 1024; // two base32 characters

    private readonly byte[] _secret;
    private readonly TimeProvider _time;
    private readonly int _maxAgeDays;

    public Srs0(byte[] secret, TimeProvider? time = null, TimeSpan? maxAge = null)
    {
        if (secret.Length == 0) throw new ArgumentException("The SRS secret is empty", nameof(secret));
        _secret = secret;
        _time = time ?? TimeProvider.System;
        _maxAgeDays = (int)(maxAge ?? DefaultMaxAge).TotalDays;
    }

    /// <summary>True for a local part in SRS form (SRS0 or SRS1, with any of libsrs2's separators '=', '+', '-'),
    /// whether or not it is valid: such an address is never a user's.</summary>
    public static bool LooksLikeSrs(string localPart) =>
        localPart.Length > 5 && (localPart.StartsWith("SRS0", StringComparison.OrdinalIgnoreCase) || localPart.StartsWith("SRS1", StringComparison.OrdinalIgnoreCase))
        && localPart[4] is '=' or '+' or '-';

    /// <summary>The reverse-path that forwards mail from <paramref name="localPart"/>@<paramref name="domain"/> through
    /// <paramref name="forwardingDomain"/>.</summary>
    public string Forward(string localPart, string domain, string forwardingDomain)
    {
        var stamp = Timestamp(Today());
        return $"SRS0={Hash(stamp, domain, localPart)}={stamp}={domain}={localPart}@{forwardingDomain}";
    }

    /// <summary>The original sender of an SRS0 local part, or null with the reason: not SRS0, a hash that is not ours
    /// (forged), or older than the maximum age. The hash is compared without regard to case, as libsrs2 does, because
    /// some mail systems lower-case local parts on the way back.</summary>
    public string? Reverse(string localPart, out string? why)
    {
        why = null;
        if (!LooksLikeSrs(localPart) || !localPart.StartsWith("SRS0", StringComparison.OrdinalIgnoreCase))
        {
            why = "not an SRS0 address";
            return null;
        }
        var parts = localPart[5..].Split('=', 4);
        if (parts.Length != 4 || parts[0].Length != HashLength || parts[1].Length != 2 || parts[2].Length == 0 || parts[3].Length == 0)
        {
            why = "malformed SRS0 address";
            return null;
        }
        var (hash, stamp, domain, local) = (parts[0], parts[1], parts[2], parts[3]);
        if (!string.Equals(hash, Hash(stamp, domain, local), StringComparison.OrdinalIgnoreCase))
        {
            why = "SRS hash does not match";
            return null;
        }
        if (DecodeTimestamp(stamp) is not { } then)
        {
            why = "malformed SRS timestamp";
            return null;
        }
        var now = Today() % TimeSlots;
        while (now < then) now += TimeSlots;
        if (now - then > _maxAgeDays)
        {
            why = $"SRS address expired (older than {_maxAgeDays} days)";
            return null;
        }
        return $"{local}@{domain}";
    }

    private long Today() => _time.GetUtcNow().ToUnixTimeSeconds() / 86400;

    private static string Timestamp(long day)
    {
        var slot = (int)(day % TimeSlots);
        return new string([Base32[(slot >> 5) & 31], Base32[slot & 31]]);
    }

    private static int? DecodeTimestamp(string stamp)
    {
        var hi = Base32.IndexOf(char.ToUpperInvariant(stamp[0]));
        var lo = Base32.IndexOf(char.ToUpperInvariant(stamp[1]));
        return hi < 0 || lo < 0 ? null : (hi << 5) | lo;
    }

    private string Hash(string stamp, string domain, string local)
    {
        var data = Encoding.UTF8.GetBytes((stamp + domain + local).ToLowerInvariant());
        return Convert.ToBase64String(HMACSHA1.HashData(_secret, data))[..HashLength];
    }
}
