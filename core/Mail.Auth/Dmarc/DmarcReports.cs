using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Xml.Linq;
using Mail.Core.Ports;

namespace Mail.Auth.Dmarc;

/// <summary>One DKIM result as reported in an aggregate report.</summary>
public sealed record DmarcReportDkim(string Domain, string? Selector, string Result);

/// <summary>
/// What one evaluated message contributes to a DMARC aggregate report (RFC 7489 7.2, appendix C): one entry per
/// message, keyed by queue id so that a redelivered envelope does not count twice.
/// </summary>
public sealed record DmarcReportEntry
{
    public required string QueueId { get; init; }
    public required DateTimeOffset EvaluatedAt { get; init; }
    /// <summary>Where the DMARC record was found (the report goes to its rua=).</summary>
    public required string PolicyDomain { get; init; }
    public required string SourceIp { get; init; }
    public required string HeaderFrom { get; init; }
    /// <summary>The published policy, as the report's policy_published needs it.</summary>
    public required string Adkim { get; init; }
    public required string Aspf { get; init; }
    public required string P { get; init; }
    public string? Sp { get; init; }
    public int Pct { get; init; } = 100;
    /// <summary>What we did: "none" or "quarantine" (after the edge said 250 we never reject; Junk counts as quarantine).</summary>
    public required string Disposition { get; init; }
    public required bool DkimAligned { get; init; }
    public required bool SpfAligned { get; init; }
    /// <summary>RFC 7489 PolicyOverrideType (e.g. "trusted_forwarder", "sampled_out") with a comment.</summary>
    public string? OverrideType { get; init; }
    public string? OverrideComment { get; init; }
    public IReadOnlyList<DmarcReportDkim> Dkim { get; init; } = [];
    public string? SpfDomain { get; init; }
    /// <summary>"mfrom" or "helo".</summary>
    public string SpfScope { get; init; } = "mfrom";
    public string SpfResult { get; init; } = "none";
}

/// <summary>
/// Keeps report entries in the state store (partition "dmarc-report/{policy domain}/{UTC day}"), expiring after
/// <see cref="Retention"/>. A job that turns a finished day into reports reads them back with <see cref="ListAsync"/>.
/// </summary>
public sealed class DmarcReportStore(IStateStore state)
{
    public static readonly TimeSpan Retention = TimeSpan.FromDays(8);

    public static string Partition(string policyDomain, DateOnly day) =>
        $"dmarc-report/{policyDomain.ToLowerInvariant()}/{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    /// <summary>Idempotent on <see cref="DmarcReportEntry.QueueId"/> and the policy domain.</summary>
    public Task RecordAsync(DmarcReportEntry entry, CancellationToken cancellationToken = default)
    {
        var day = DateOnly.FromDateTime(entry.EvaluatedAt.UtcDateTime);
        return state.PutAsync(Partition(entry.PolicyDomain, day), entry.QueueId, JsonSerializer.Serialize(entry, DmarcReportJson.Default.DmarcReportEntry),
            entry.EvaluatedAt + Retention, cancellationToken);
    }

    public async Task<IReadOnlyList<DmarcReportEntry>> ListAsync(string policyDomain, DateOnly day, CancellationToken cancellationToken = default)
    {
        var entries = new List<DmarcReportEntry>();
        await foreach (var e in state.ListAsync(Partition(policyDomain, day), cancellationToken))
        {
            if (JsonSerializer.Deserialize(e.Value, DmarcReportJson.Default.DmarcReportEntry) is { } entry) entries.Add(entry);
        }
        return entries;
    }
}

/// <summary>Compile-time JSON (the default options, as entries were always written) so the AOT build needs no reflection.</summary>
[JsonSerializable(typeof(DmarcReportEntry))]
internal sealed partial class DmarcReportJson : JsonSerializerContext;

/// <summary>The reporter's identity in report_metadata.</summary>
public sealed record DmarcReporter(string OrgName, string Email, string? ExtraContactInfo = null);

/// <summary>Builds the XML of an aggregate report (RFC 7489 appendix C) from stored entries of one policy domain.</summary>
public static class DmarcAggregateReport
{
    /// <summary>
    /// One feedback document: identical rows (source IP, disposition, alignment, override, header_from and auth results)
    /// are merged with a count. The published policy is taken from the latest entry.
    /// </summary>
    public static XDocument Build(DmarcReporter reporter, string reportId, DateTimeOffset begin, DateTimeOffset end, IReadOnlyList<DmarcReportEntry> entries)
    {
        if (entries.Count == 0) throw new ArgumentException("An aggregate report needs at least one entry.", nameof(entries));
        var latest = entries.MaxBy(e => e.EvaluatedAt)!;
        var policy = new XElement("policy_published",
            new XElement("domain", latest.PolicyDomain),
            new XElement("adkim", latest.Adkim),
            new XElement("aspf", latest.Aspf),
            new XElement("p", latest.P),
            new XElement("sp", latest.Sp ?? latest.P),
            new XElement("pct", latest.Pct));

        var records = entries
            .GroupBy(RowKey)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Record(g.First(), g.Count()));

        return new XDocument(new XDeclaration("1.0", "UTF-8", null),
            new XElement("feedback",
                new XElement("report_metadata",
                    new XElement("org_name", reporter.OrgName),
                    new XElement("email", reporter.Email),
                    reporter.ExtraContactInfo is null ? null : new XElement("extra_contact_info", reporter.ExtraContactInfo),
                    new XElement("report_id", reportId),
                    new XElement("date_range",
                        new XElement("begin", begin.ToUnixTimeSeconds()),
                        new XElement("end", end.ToUnixTimeSeconds()))),
                policy,
                records));
    }

    private static string RowKey(DmarcReportEntry e) => string.Join('|',
        e.SourceIp, e.Disposition, e.DkimAligned, e.SpfAligned, e.OverrideType, e.HeaderFrom,
        string.Join(',', e.Dkim.Select(d => $"{d.Domain}/{d.Selector}/{d.Result}")), e.SpfDomain, e.SpfScope, e.SpfResult);

    private static XElement Record(DmarcReportEntry e, int count) =>
        new("record",
            new XElement("row",
                new XElement("source_ip", e.SourceIp),
                new XElement("count", count),
                new XElement("policy_evaluated",
                    new XElement("disposition", e.Disposition),
                    new XElement("dkim", e.DkimAligned ? "pass" : "fail"),
                    new XElement("spf", e.SpfAligned ? "pass" : "fail"),
                    e.OverrideType is null ? null : new XElement("reason",
                        new XElement("type", e.OverrideType),
                        e.OverrideComment is null ? null : new XElement("comment", e.OverrideComment)))),
            new XElement("identifiers", new XElement("header_from", e.HeaderFrom)),
            new XElement("auth_results",
                e.Dkim.Select(d => new XElement("dkim",
                    new XElement("domain", d.Domain),
                    d.Selector is null ? null : new XElement("selector", d.Selector),
                    new XElement("result", d.Result))),
                new XElement("spf",
                    new XElement("domain", e.SpfDomain ?? e.HeaderFrom),
                    new XElement("scope", e.SpfScope),
                    new XElement("result", e.SpfResult))));
}
