using System.Globalization;

namespace Mail.Auth.PublicSuffix;

/// <summary>
/// The Public Suffix List (https://publicsuffix.org/list/) and the organizational domain of RFC 7489 section 3.2:
/// the public suffix plus one label. The list ships inside this assembly (<see cref="Default"/>); a newer copy
/// can be loaded from a file with <see cref="Load"/> (no download ever happens at run time).
/// </summary>
public sealed class PublicSuffixList
{
    private readonly HashSet<string> _rules = new(StringComparer.Ordinal);
    private readonly HashSet<string> _wildcards = new(StringComparer.Ordinal);
    private readonly HashSet<string> _exceptions = new(StringComparer.Ordinal);

    private static readonly Lazy<PublicSuffixList> s_default = new(LoadEmbedded);
    private static readonly IdnMapping s_idn = new();

    /// <summary>The list compiled into the assembly.</summary>
    public static PublicSuffixList Default => s_default.Value;

    /// <summary>Number of rules read (normal, wildcard and exception rules together).</summary>
    public int RuleCount => _rules.Count + _wildcards.Count + _exceptions.Count;

    public static PublicSuffixList Load(string path)
    {
        using var reader = new StreamReader(path);
        return Parse(reader);
    }

    public static PublicSuffixList Parse(TextReader reader)
    {
        var list = new PublicSuffixList();
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            // Rules are the first whitespace-delimited word of a line; "//" starts a comment.
            var rule = line.Trim();
            var space = rule.IndexOfAny([' ', '\t']);
            if (space >= 0) rule = rule[..space];
            if (rule.Length == 0 || rule.StartsWith("//", StringComparison.Ordinal)) continue;
            rule = ToAscii(rule.TrimStart('!', '*', '.')) is { } ascii
                ? rule.StartsWith('!') ? "!" + ascii : rule.StartsWith("*.", StringComparison.Ordinal) ? "*." + ascii : ascii
                : rule;
            if (rule.StartsWith('!')) list._exceptions.Add(rule[1..]);
            else if (rule.StartsWith("*.", StringComparison.Ordinal)) list._wildcards.Add(rule[2..]);
            else list._rules.Add(rule);
        }
        if (list.RuleCount == 0) throw new InvalidDataException("The public suffix list contains no rules.");
        return list;
    }

    /// <summary>The public suffix of a domain per the PSL algorithm (the implicit rule "*" applies when nothing matches).</summary>
    public string GetPublicSuffix(string domain)
    {
        var labels = Normalize(domain).Split('.');
        // Walk from the longest candidate to the shortest; the first (longest) match wins, exceptions beat wildcards.
        for (var i = 0; i < labels.Length; i++)
        {
            var candidate = string.Join('.', labels, i, labels.Length - i);
            if (_exceptions.Contains(candidate)) return string.Join('.', labels, i + 1, labels.Length - i - 1);
            if (_rules.Contains(candidate)) return candidate;
            if (i + 1 < labels.Length && _wildcards.Contains(string.Join('.', labels, i + 1, labels.Length - i - 1))) return candidate;
        }
        return labels[^1];
    }

    /// <summary>
    /// RFC 7489 3.2 organizational domain: the public suffix plus one label. A domain that is itself a public suffix
    /// is its own organizational domain (there is nothing above it to fall back to).
    /// </summary>
    public string GetOrganizationalDomain(string domain)
    {
        // DMARC asks for the From domain and each authenticated domain of every message: the walk over the rules
        // (a split and a join per label) is done once per domain name.
        return _organizational.GetOrAdd(domain, static (d, list) => list.FindOrganizationalDomain(d), this);
    }

    private readonly Mail.Core.Caching.ClearingCache<string, string> _organizational = new(16384, StringComparer.Ordinal);

    private string FindOrganizationalDomain(string domain)
    {
        var d = Normalize(domain);
        var suffix = GetPublicSuffix(d);
        if (d.Length == suffix.Length) return d;
        var rest = d[..(d.Length - suffix.Length - 1)];
        var lastDot = rest.LastIndexOf('.');
        return (lastDot < 0 ? rest : rest[(lastDot + 1)..]) + "." + suffix;
    }

    private static string Normalize(string domain)
    {
        var d = domain.Trim().TrimEnd('.').ToLowerInvariant();
        return ToAscii(d) ?? d;
    }

    private static string? ToAscii(string s)
    {
        if (s.Length == 0) return s;
        try
        {
            return s_idn.GetAscii(s).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static PublicSuffixList LoadEmbedded()
    {
        using var stream = typeof(PublicSuffixList).Assembly.GetManifestResourceStream("Mail.Auth.public_suffix_list.dat")
            ?? throw new InvalidOperationException("Embedded public suffix list is missing from Mail.Auth.");
        using var reader = new StreamReader(stream);
        return Parse(reader);
    }
}
