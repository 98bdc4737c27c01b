using System.Globalization;
using Mail.Auth.Dkim;

namespace Mail.Auth.Dmarc;

public enum DmarcPolicy
{
    None,
    Quarantine,
    Reject,
}

public enum DmarcAlignment
{
    Relaxed,
    Strict,
}

/// <summary>A DMARC policy record (RFC 7489 6.3) as published at _dmarc.domain.</summary>
public sealed record DmarcRecord
{
    public DmarcPolicy Policy { get; init; }
    /// <summary>sp=, or null when absent (then p applies to subdomains too).</summary>
    public DmarcPolicy? SubdomainPolicy { get; init; }
    public int Percent { get; init; } = 100;
    public DmarcAlignment DkimAlignment { get; init; }
    public DmarcAlignment SpfAlignment { get; init; }
    /// <summary>rua= URIs (aggregate reports), as published.</summary>
    public IReadOnlyList<string> AggregateReportUris { get; init; } = [];
    /// <summary>ruf= URIs (failure reports), as published.</summary>
    public IReadOnlyList<string> FailureReportUris { get; init; } = [];
    /// <summary>fo= failure reporting options (default "0").</summary>
    public string FailureOptions { get; init; } = "0";
    /// <summary>ri= requested aggregate report interval in seconds (default 86400).</summary>
    public int ReportInterval { get; init; } = 86400;

    /// <summary>True when the text is a DMARC record candidate: it starts with "v=DMARC1" (RFC 7489 6.6.3 step 3).</summary>
    public static bool IsDmarcRecord(string txt)
    {
        var t = txt.TrimStart();
        if (!t.StartsWith('v')) return false;
        t = t[1..].TrimStart();
        if (!t.StartsWith('=')) return false;
        t = t[1..].TrimStart();
        if (!t.StartsWith("DMARC1", StringComparison.Ordinal)) return false;
        t = t[6..].TrimStart();
        return t.Length == 0 || t[0] == ';';
    }

    /// <summary>
    /// Parses a record. Per RFC 7489 6.6.3 a missing or invalid p= is read as p=none when rua= has a URI, and
    /// otherwise the record is unusable (null). Unknown tags are ignored; invalid values of optional tags take
    /// their defaults.
    /// </summary>
    public static DmarcRecord? Parse(string txt, out string? error)
    {
        var tags = TagList.Parse(txt, out error);
        if (tags is null) return null;
        if (!tags.TryGetValue("v", out var v) || v != "DMARC1")
        {
            error = "not a DMARC1 record";
            return null;
        }
        var rua = UriList(tags, "rua");
        var policy = tags.TryGetValue("p", out var p) ? ParsePolicy(p) : null;
        if (policy is null)
        {
            if (rua.Count == 0)
            {
                error = p is null ? "record has no p= tag" : $"invalid policy p={p}";
                return null;
            }
            policy = DmarcPolicy.None;
        }
        DmarcPolicy? sp = null;
        if (tags.TryGetValue("sp", out var spText))
        {
            sp = ParsePolicy(spText);
            if (sp is null && rua.Count == 0)
            {
                error = $"invalid subdomain policy sp={spText}";
                return null;
            }
            sp ??= DmarcPolicy.None;
        }
        var pct = 100;
        if (tags.TryGetValue("pct", out var pctText) && int.TryParse(pctText, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            pct = Math.Clamp(n, 0, 100);
        var ri = 86400;
        if (tags.TryGetValue("ri", out var riText) && int.TryParse(riText, NumberStyles.None, CultureInfo.InvariantCulture, out var r) && r > 0)
            ri = r;
        return new DmarcRecord
        {
            Policy = policy.Value,
            SubdomainPolicy = sp,
            Percent = pct,
            DkimAlignment = Alignment(tags, "adkim"),
            SpfAlignment = Alignment(tags, "aspf"),
            AggregateReportUris = rua,
            FailureReportUris = UriList(tags, "ruf"),
            FailureOptions = tags.TryGetValue("fo", out var fo) ? fo : "0",
            ReportInterval = ri,
        };
    }

    public static string ToToken(DmarcPolicy policy) => policy switch
    {
        DmarcPolicy.Reject => "reject",
        DmarcPolicy.Quarantine => "quarantine",
        _ => "none",
    };

    private static DmarcPolicy? ParsePolicy(string s) => s.Trim().ToLowerInvariant() switch
    {
        "none" => DmarcPolicy.None,
        "quarantine" => DmarcPolicy.Quarantine,
        "reject" => DmarcPolicy.Reject,
        _ => null,
    };

    private static DmarcAlignment Alignment(Dictionary<string, string> tags, string name) =>
        tags.TryGetValue(name, out var v) && v.Trim().Equals("s", StringComparison.OrdinalIgnoreCase) ? DmarcAlignment.Strict : DmarcAlignment.Relaxed;

    private static List<string> UriList(Dictionary<string, string> tags, string name) =>
        tags.TryGetValue(name, out var v)
            ? v.Split(',').Select(u => u.Trim()).Where(u => u.Contains(':', StringComparison.Ordinal)).ToList()
            : [];
}
