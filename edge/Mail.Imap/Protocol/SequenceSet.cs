using System.Globalization;
using System.Text;

namespace Mail.Imap.Protocol;

/// <summary>RFC 9051 sequence-set: "1:4,7,9:*". "*" is the largest number in use, resolved at match time.
/// "$" alone (RFC 5182 seq-last-command) names the session's saved search result instead.</summary>
internal sealed class SequenceSet
{
    private readonly List<(long Lo, long Hi)> _ranges; // long.MaxValue stands for "*"
    private const long Star = long.MaxValue;

    private SequenceSet(List<(long, long)> ranges) => _ranges = ranges;

    /// <summary>The "$" marker: the caller resolves it against its saved search result; it has no ranges.</summary>
    public static readonly SequenceSet SearchResult = new([]);

    public bool IsSearchResult => ReferenceEquals(this, SearchResult);

    public static SequenceSet Parse(string text)
    {
        if (text == "$") return SearchResult;
        var ranges = new List<(long, long)>();
        foreach (var part in text.Split(','))
        {
            if (part.Length == 0) throw new ImapParseException($"Empty element in sequence set \"{text}\"");
            var colon = part.IndexOf(':');
            if (colon < 0)
            {
                var n = Number(part, text);
                ranges.Add((n, n));
            }
            else
            {
                var a = Number(part[..colon], text);
                var b = Number(part[(colon + 1)..], text);
                ranges.Add((Math.Min(a, b), Math.Max(a, b)));
            }
        }
        return new SequenceSet(ranges);
    }

    private static long Number(string s, string whole)
    {
        if (s == "*") return Star;
        if (s == "$") throw new ImapParseException($"'$' (SEARCHRES) stands alone, not inside \"{whole}\"");
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0 || n > uint.MaxValue)
            throw new ImapParseException($"Bad number '{s}' in sequence set \"{whole}\"");
        return n;
    }

    /// <summary>True when <paramref name="n"/> is in the set, "*" standing for <paramref name="max"/>.</summary>
    public bool Contains(long n, long max)
    {
        foreach (var (lo0, hi0) in _ranges)
        {
            var lo = lo0 == Star ? max : lo0;
            var hi = hi0 == Star ? max : hi0;
            if (lo > hi) (lo, hi) = (hi, lo);
            if (n >= lo && n <= hi) return true;
        }
        return false;
    }

    /// <summary>Each range with "*" resolved to <paramref name="max"/>, low end first.</summary>
    public IEnumerable<(long Lo, long Hi)> Ranges(long max)
    {
        foreach (var (lo0, hi0) in _ranges)
        {
            var lo = lo0 == Star ? max : lo0;
            var hi = hi0 == Star ? max : hi0;
            yield return lo <= hi ? (lo, hi) : (hi, lo);
        }
    }

    /// <summary>Largest explicit number (for "sequence number out of range" checks).</summary>
    public long MaxExplicit(long max) => _ranges.Max(r => Math.Max(r.Lo == Star ? max : r.Lo, r.Hi == Star ? max : r.Hi));

    /// <summary>Compact text of sorted numbers: 1,2,3,7 becomes "1:3,7".</summary>
    public static string Format(IEnumerable<long> numbers)
    {
        var sb = new StringBuilder();
        long start = -1, prev = -1;
        foreach (var n in numbers)
        {
            if (start < 0) { start = prev = n; continue; }
            if (n == prev + 1) { prev = n; continue; }
            Append(sb, start, prev);
            start = prev = n;
        }
        if (start >= 0) Append(sb, start, prev);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, long a, long b)
    {
        if (sb.Length > 0) sb.Append(',');
        sb.Append(a.ToString(CultureInfo.InvariantCulture));
        if (b != a) sb.Append(':').Append(b.ToString(CultureInfo.InvariantCulture));
    }
}
