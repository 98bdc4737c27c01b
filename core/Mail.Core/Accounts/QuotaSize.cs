using System.Globalization;

namespace Mail.Core.Accounts;

/// <summary>
/// A storage limit as an administrator writes it, in the words of Dovecot's <c>quota_rule = *:storage=SIZE</c>:
/// a number of octets with an optional binary unit (<c>K</c>, <c>M</c>, <c>G</c>, <c>T</c>, each 1024 times the
/// last, an optional trailing <c>B</c>), so <c>500M</c> is 524,288,000 octets. <c>0</c>, <c>none</c> and
/// <c>unlimited</c> mean no limit, as <c>storage=0</c> does in Dovecot.
/// </summary>
public static class QuotaSize
{
    private static readonly string[] s_units = ["", "K", "M", "G", "T"];

    /// <summary>True when <paramref name="text"/> is a size; <paramref name="limit"/> is then the limit in octets,
    /// or null for no limit.</summary>
    public static bool TryParse(string? text, out long? limit)
    {
        limit = null;
        var t = text?.Trim().ToUpperInvariant();
        if (string.IsNullOrEmpty(t)) return false;
        if (t is "NONE" or "UNLIMITED") return true;
        if (t.EndsWith('B')) t = t[..^1];
        var unit = t.Length > 0 ? Array.IndexOf(s_units, t[^1].ToString()) : -1;
        var digits = unit > 0 ? t[..^1] : t;
        if (unit < 0) unit = 0;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit)
            || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number)) return false;
        try
        {
            var octets = number;
            for (var i = 0; i < unit; i++) octets = checked(octets * 1024);
            limit = octets == 0 ? null : octets;
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary>The limit in the largest unit that states it exactly ("500M", "1536K", "1000"), or "none".</summary>
    public static string Format(long? limit)
    {
        if (limit is not { } octets || octets <= 0) return "none";
        var unit = 0;
        while (unit < s_units.Length - 1 && octets % 1024 == 0)
        {
            octets /= 1024;
            unit++;
        }
        return octets.ToString(CultureInfo.InvariantCulture) + s_units[unit];
    }
}
