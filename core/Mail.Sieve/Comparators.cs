using System.Globalization;

namespace Mail.Sieve;

/// <summary>RFC 4790 comparators: <c>i;octet</c>, <c>i;ascii-casemap</c> (ASCII letters folded, nothing else) and
/// <c>i;ascii-numeric</c> (the leading digits as a number; a string without them is positive infinity).</summary>
internal abstract class Comparator
{
    public abstract bool CharEquals(char a, char b);

    public virtual bool Equal(string a, string b) => a.Length == b.Length && Enumerable.Range(0, a.Length).All(i => CharEquals(a[i], b[i]));

    public abstract int Compare(string a, string b);

    public int IndexOf(string haystack, string needle)
    {
        for (var i = 0; i + needle.Length <= haystack.Length; i++)
        {
            var j = 0;
            while (j < needle.Length && CharEquals(haystack[i + j], needle[j])) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }
}

internal static class Comparators
{
    public static readonly Comparator Octet = new OctetComparator();
    public static readonly Comparator AsciiCasemap = new CasemapComparator();
    public static readonly Comparator AsciiNumeric = new NumericComparator();

    public static Comparator? Get(string name) => name.ToLowerInvariant() switch
    {
        "i;octet" => Octet,
        "i;ascii-casemap" => AsciiCasemap,
        "i;ascii-numeric" => AsciiNumeric,
        _ => null,
    };

    private sealed class OctetComparator : Comparator
    {
        public override bool CharEquals(char a, char b) => a == b;

        public override int Compare(string a, string b) => string.CompareOrdinal(a, b);
    }

    private sealed class CasemapComparator : Comparator
    {
        public override bool CharEquals(char a, char b) => a == b || (char.IsAscii(a) && char.IsAscii(b) && char.ToUpperInvariant(a) == char.ToUpperInvariant(b));

        public override int Compare(string a, string b) => string.CompareOrdinal(Fold(a), Fold(b));

        private static string Fold(string s) => string.Create(s.Length, s, (span, src) =>
        {
            for (var i = 0; i < src.Length; i++) span[i] = char.IsAsciiLetterLower(src[i]) ? (char)(src[i] - 32) : src[i];
        });
    }

    private sealed class NumericComparator : Comparator
    {
        public override bool CharEquals(char a, char b) => a == b;

        public override bool Equal(string a, string b) => Compare(a, b) == 0;

        public override int Compare(string a, string b)
        {
            var x = Number(a);
            var y = Number(b);
            if (x is null) return y is null ? 0 : 1;
            if (y is null) return -1;
            // Leading zeros stripped, then a longer digit string is the larger number: no overflow for long ones.
            var c = x.Length.CompareTo(y.Length);
            return c != 0 ? c : string.CompareOrdinal(x, y);
        }

        private static string? Number(string s)
        {
            var end = 0;
            while (end < s.Length && char.IsAsciiDigit(s[end])) end++;
            if (end == 0) return null;
            var digits = s[..end].TrimStart('0');
            return digits.Length == 0 ? "0" : digits;
        }
    }

    public static string Format(long n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The match types of RFC 5228 (:is, :contains, :matches) and RFC 5231 (:value, :count is done by the
/// caller, which counts the values). :matches fills the match variables of RFC 5229: each wildcard the shortest it
/// can be, left to right, as Pigeonhole does; it runs in time linear in the pattern times the value.</summary>
internal static class Matcher
{
    public static bool Relation(string relation, int comparison) => relation.ToLowerInvariant() switch
    {
        "gt" => comparison > 0,
        "ge" => comparison >= 0,
        "lt" => comparison < 0,
        "le" => comparison <= 0,
        "eq" => comparison == 0,
        _ => comparison != 0,
    };

    /// <summary>Glob match with '*', '?' and '\' escapes. <paramref name="captures"/> gets ${0} then one value per wildcard.</summary>
    public static bool Matches(string value, string pattern, Comparator cmp, List<string>? captures)
    {
        // Compile the pattern into items: literal char, '?', '*'.
        var items = new List<(char Kind, char C)>();
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length) items.Add(('l', pattern[++i]));
            else if (c is '*' or '?') items.Add((c, c));
            else items.Add(('l', c));
        }
        var starts = new int[items.Count];
        var ends = new int[items.Count];
        int p = 0, v = 0, lastStar = -1, lastStarValue = 0;
        while (v < value.Length || p < items.Count)
        {
            if (p < items.Count)
            {
                var (kind, ch) = items[p];
                if (kind == '*')
                {
                    lastStar = p;
                    lastStarValue = v;
                    starts[p] = v;
                    ends[p] = v;
                    p++;
                    continue;
                }
                if (v < value.Length && (kind == '?' || cmp.CharEquals(value[v], ch)))
                {
                    starts[p] = v;
                    ends[p] = v + 1;
                    p++;
                    v++;
                    continue;
                }
            }
            if (lastStar < 0 || lastStarValue >= value.Length) return false;
            // Grow the last '*' by one character and retry what follows it.
            lastStarValue++;
            p = lastStar + 1;
            v = lastStarValue;
            ends[lastStar] = v;
        }
        if (captures is not null)
        {
            captures.Clear();
            captures.Add(value);
            for (var i = 0; i < items.Count; i++)
                if (items[i].Kind is '*' or '?') captures.Add(value[starts[i]..ends[i]]);
        }
        return true;
    }
}
