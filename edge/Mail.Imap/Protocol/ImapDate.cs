using System.Globalization;

namespace Mail.Imap.Protocol;

/// <summary>IMAP date-time ("17-Jul-1996 02:44:25 -0700") and date ("1-Feb-1994") text.</summary>
internal static class ImapDate
{
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    public static string FormatDateTime(DateTimeOffset d)
    {
        var off = d.Offset;
        var sign = off < TimeSpan.Zero ? '-' : '+';
        off = off.Duration();
        return string.Create(CultureInfo.InvariantCulture,
            $"{d.Day,2}-{Months[d.Month - 1]}-{d.Year:D4} {d.Hour:D2}:{d.Minute:D2}:{d.Second:D2} {sign}{off.Hours:D2}{off.Minutes:D2}");
    }

    public static bool TryParseDateTime(string s, out DateTimeOffset value)
    {
        value = default;
        s = s.Trim();
        var parts = s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || !TryParseDate(parts[0], out var date)) return false;
        var t = parts[1].Split(':');
        if (t.Length != 3 || !int.TryParse(t[0], NumberStyles.None, CultureInfo.InvariantCulture, out var hh) ||
            !int.TryParse(t[1], NumberStyles.None, CultureInfo.InvariantCulture, out var mm) ||
            !int.TryParse(t[2], NumberStyles.None, CultureInfo.InvariantCulture, out var ss) || hh > 23 || mm > 59 || ss > 60) return false;
        var z = parts[2];
        if (z.Length != 5 || z[0] is not ('+' or '-') || !int.TryParse(z.AsSpan(1, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var zh) ||
            !int.TryParse(z.AsSpan(3, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var zm) || zm > 59 || zh > 14) return false;
        var offset = new TimeSpan(zh, zm, 0);
        if (z[0] == '-') offset = -offset;
        value = new DateTimeOffset(date.Year, date.Month, date.Day, hh, mm, Math.Min(ss, 59), offset);
        return true;
    }

    public static bool TryParseDate(string s, out DateTime date)
    {
        date = default;
        var p = s.Split('-');
        if (p.Length != 3) return false;
        if (!int.TryParse(p[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var day)) return false;
        var month = Array.FindIndex(Months, m => m.Equals(p[1], StringComparison.OrdinalIgnoreCase)) + 1;
        if (month == 0 || p[2].Length != 4 || !int.TryParse(p[2], NumberStyles.None, CultureInfo.InvariantCulture, out var year)) return false;
        if (year < 1 || day < 1 || day > DateTime.DaysInMonth(year, month)) return false;
        date = new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Unspecified);
        return true;
    }
}
