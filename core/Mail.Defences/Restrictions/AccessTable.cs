using System.Net;
using Mail.Defences.RegexpTables;
using Mail.Core.Listening;

namespace Mail.Defences.Restrictions;

/// <summary>A lookup table for check_*_access. Fixed-string tables are asked with partial keys too (parent domains,
/// address prefixes, user@); pattern tables (regexp:, pcre:, cidr:) only with the full key, as in Postfix.</summary>
public interface IAccessTable
{
    string Name { get; }

    bool IsPattern { get; }

    string? Find(string key);
}

/// <summary>
/// A Postfix access(5) table in its simple "key action" form. Types: <c>hash:</c>, <c>btree:</c>, <c>lmdb:</c> and
/// <c>texthash:</c> name the text source file (the one postmap reads; no .db is needed), <c>inline:{ key=value, ... }</c>
/// gives the entries in place. Keys are case-insensitive. Lines: "key whitespace value", '#' comments, continuation
/// lines start with whitespace. Lookup order (which keys are tried) belongs to the check that uses the table.
/// </summary>
public sealed class AccessTable : IAccessTable
{
    private readonly Dictionary<string, string> _entries;

    private AccessTable(string name, Dictionary<string, string> entries)
    {
        Name = name;
        _entries = entries;
    }

    /// <summary>As configured, e.g. "hash:/etc/postfix/access".</summary>
    public string Name { get; }

    public int Count => _entries.Count;

    /// <summary>Every entry, key (lower case) → value as written; what `mail import postfix` reads a virtual_alias_maps
    /// source with, since those tables have the same "key value" form.</summary>
    public IReadOnlyDictionary<string, string> Entries => _entries;

    public bool IsPattern => false;

    public string? Find(string key) => _entries.GetValueOrDefault(key.ToLowerInvariant());

    /// <summary>Opens a table. Types: hash/btree/lmdb/texthash (the text source file), inline:{...}, regexp:/pcre: (a
    /// regexp_table file whose results are access actions; pcre: is read with .NET regex syntax), cidr: (network action).
    /// Throws <see cref="RestrictionConfigException"/> or <see cref="RegexpTableException"/> naming the table and line.</summary>
    public static IAccessTable Open(string spec)
    {
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0) throw new RestrictionConfigException($"'{spec}' is not a table (type:name)");
        var type = spec[..colon].ToLowerInvariant();
        var name = spec[(colon + 1)..];
        return type switch
        {
            "hash" or "btree" or "lmdb" or "texthash" => FromFile(spec, name),
            "inline" => FromInline(spec, name),
            "regexp" or "pcre" => new RegexpAccessTable(spec, RegexpTable.ParseAccess(ReadFile(spec, name), spec)),
            "cidr" => CidrAccessTable.Parse(ReadFile(spec, name), spec),
            _ => throw new RestrictionConfigException($"table type '{type}' in '{spec}' is not supported (use hash:, texthash:, inline:, regexp:, pcre: or cidr:)"),
        };
    }

    internal static string ReadFile(string spec, string path) =>
        File.Exists(path) ? File.ReadAllText(path) : throw new RestrictionConfigException($"{spec}: file {path} does not exist");

    public static AccessTable Parse(string text, string name)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        string? pending = null;
        var pendingLine = 0;
        for (var i = 0; i <= lines.Length; i++)
        {
            var raw = i < lines.Length ? lines[i] : null;
            var trimmed = raw?.Trim() ?? "";
            if (raw is not null && (trimmed.Length == 0 || trimmed[0] == '#')) continue;
            if (raw is not null && char.IsWhiteSpace(raw[0]) && pending is not null)
            {
                pending += " " + trimmed;
                continue;
            }
            if (pending is not null) Add(entries, pending, name, pendingLine);
            pending = raw is null ? null : trimmed;
            pendingLine = i + 1;
        }
        return new AccessTable(name, entries);
    }

    private static void Add(Dictionary<string, string> entries, string line, string name, int lineNo)
    {
        var sp = line.IndexOfAny([' ', '\t']);
        if (sp < 0) throw new RestrictionConfigException($"{name}, line {lineNo}: '{line}' has a key but no value");
        entries[line[..sp].ToLowerInvariant()] = line[(sp + 1)..].Trim();
    }

    private static AccessTable FromFile(string spec, string path) => Parse(ReadFile(spec, path), spec);

    /// <summary>inline:{ key=value, { key = value with spaces, commas } }</summary>
    private static AccessTable FromInline(string spec, string body)
    {
        var b = body.Trim();
        if (b.Length < 2 || b[0] != '{' || b[^1] != '}') throw new RestrictionConfigException($"{spec}: inline table must be inline:{{ key=value, ... }}");
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in RestrictionList.Tokenize(b[1..^1]))
        {
            var e = item.StartsWith('{') && item.EndsWith('}') ? item[1..^1].Trim() : item;
            var eq = e.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new RestrictionConfigException($"{spec}: inline entry '{item}' is not key=value");
            entries[e[..eq].Trim().ToLowerInvariant()] = e[(eq + 1)..].Trim();
        }
        return new AccessTable(spec, entries);
    }

    /// <summary>A domain and its parents: "a.b.example" → "a.b.example", ".b.example", "b.example", ".example", "example"
    /// (Postfix matches "example.com" and ".example.com" entries against subdomains).</summary>
    public static IEnumerable<string> DomainKeys(string domain)
    {
        var d = domain.TrimEnd('.').ToLowerInvariant();
        yield return d;
        var dot = d.IndexOf('.', StringComparison.Ordinal);
        while (dot >= 0)
        {
            yield return d[dot..];
            d = d[(dot + 1)..];
            yield return d;
            dot = d.IndexOf('.', StringComparison.Ordinal);
        }
    }

    /// <summary>"1.2.3.4", "1.2.3", "1.2", "1"; for IPv6 the compressed address, then the expanded one shortened group by group.</summary>
    public static IEnumerable<string> AddressKeys(System.Net.IPAddress address)
    {
        address = address.Unmapped();
        var s = address.ToString();
        yield return s;
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            var parts = s.Split('.');
            for (var n = 3; n >= 1; n--) yield return string.Join('.', parts[..n]);
        }
        else
        {
            var b = address.GetAddressBytes();
            var groups = Enumerable.Range(0, 8).Select(i => ((b[2 * i] << 8) | b[2 * i + 1]).ToString("x", System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            for (var n = 7; n >= 1; n--) yield return string.Join(':', groups[..n]);
        }
    }
}

/// <summary>A restriction list, table or option that cannot be used: a startup error naming the setting.</summary>
public sealed class RestrictionConfigException(string message) : Exception(message);

/// <summary>regexp:/pcre: access table: the first matching pattern's result.</summary>
internal sealed class RegexpAccessTable(string name, RegexpTable table) : IAccessTable
{
    public string Name { get; } = name;
    public bool IsPattern => true;
    public string? Find(string key) => table.MatchResult(key)?.Result;
}

/// <summary>cidr: access table: "network action" lines, first match wins; keys that are not addresses never match.</summary>
internal sealed class CidrAccessTable : IAccessTable
{
    private readonly List<(IPNetwork Network, string Action)> _rules;

    private CidrAccessTable(string name, List<(IPNetwork, string)> rules)
    {
        Name = name;
        _rules = rules;
    }

    public string Name { get; }
    public bool IsPattern => true;

    public string? Find(string key)
    {
        if (!IPAddress.TryParse(key.Trim('[', ']'), out var a)) return null;
        a = a.Unmapped();
        foreach (var (n, action) in _rules)
            if (n.Contains(a)) return action;
        return null;
    }

    public static CidrAccessTable Parse(string text, string name)
    {
        var rules = new List<(IPNetwork, string)>();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var l = lines[i].Trim();
            if (l.Length == 0 || l[0] == '#') continue;
            var sp = l.IndexOfAny([' ', '\t']);
            if (sp < 0) throw new RestrictionConfigException($"{name}, line {i + 1}: '{l}' has a network but no action");
            var key = l[..sp];
            IPNetwork n;
            // Postfix refuses host bits under the mask ("non-null host address bits"): it usually means a typo.
            if (key.Contains('/', StringComparison.Ordinal) && IPNetwork.TryParse(key, out var parsed) && parsed.BaseAddress.Equals(IPAddress.Parse(key[..key.IndexOf('/', StringComparison.Ordinal)]))) n = parsed;
            else if (IPAddress.TryParse(key, out var single)) n = new IPNetwork(single, single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            else throw new RestrictionConfigException($"{name}, line {i + 1}: '{key}' is not a network (address/prefix, host bits zero)");
            rules.Add((n, l[(sp + 1)..].Trim()));
        }
        return new CidrAccessTable(name, rules);
    }
}
