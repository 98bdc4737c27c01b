using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Core.Ports;

namespace Mail.Outbound.Tls.Reporting;

/// <summary>RFC 8460 4.3: the policy a session was held to ("sts" or "tlsa"; "no-policy-found" is not recorded here).</summary>
public enum TlsRptPolicyType
{
    Sts,
    Tlsa,
}

/// <summary>One failure group of a day's results (RFC 8460 4.3 failure-details): what went wrong, where, how often.</summary>
public sealed record TlsRptFailure(string ResultType, string ReceivingMxHostname, string ReceivingIp, long Count, string? SendingIp = null);

/// <summary>
/// The TLS outcomes of one day toward one policy (stored per UTC day, policy domain and policy type; format version 1).
/// </summary>
public sealed record TlsRptDay
{
    public int FormatVersion { get; init; } = 1;
    public required string Day { get; init; }
    public required string PolicyDomain { get; init; }
    public required TlsRptPolicyType PolicyType { get; init; }
    /// <summary>The policy as published: the MTA-STS policy lines or the TLSA records (RFC 8460 4.3 policy-string).</summary>
    public List<string> PolicyStrings { get; init; } = [];
    public List<string> MxHosts { get; init; } = [];
    public long Successes { get; init; }
    public List<TlsRptFailure> Failures { get; init; } = [];
}

/// <summary>
/// Counts the TLS sessions of MTA-STS and DANE deliveries per policy domain for TLS-RPT (RFC 8460): each STARTTLS
/// attempt under a policy is one success or one failure with its RFC 8460 result type. Kept in memory and added to the
/// state store (partition <see cref="Partition"/>) by <see cref="FlushAsync"/>, so a day survives restarts and is seen by
/// every instance; a crash loses at most the counts since the last flush.
/// </summary>
public sealed class TlsSessionResults(IStateStore state, TimeProvider? time = null)
{
    public const string Partition = "tls-rpt";
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private Dictionary<string, TlsRptDay> _pending = new(StringComparer.Ordinal);

    internal static string Key(string day, string domain, TlsRptPolicyType type) => $"{day}|{domain.ToLowerInvariant()}|{type}";

    /// <summary>One session under a policy: <paramref name="resultType"/> null for success, else an RFC 8460 4.3 result type.</summary>
    public void Record(string policyDomain, TlsRptPolicyType type, IReadOnlyList<string> policyStrings, string mxHost, string ip, string? sendingIp, string? resultType)
    {
        var day = _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var key = Key(day, policyDomain, type);
        lock (_lock)
        {
            var d = _pending.TryGetValue(key, out var existing) ? existing
                : new TlsRptDay { Day = day, PolicyDomain = policyDomain.ToLowerInvariant(), PolicyType = type, PolicyStrings = [.. policyStrings] };
            if (!d.MxHosts.Contains(mxHost, StringComparer.OrdinalIgnoreCase)) d.MxHosts.Add(mxHost);
            if (resultType is null) d = d with { Successes = d.Successes + 1 };
            else AddFailure(d.Failures, new TlsRptFailure(resultType, mxHost, ip, 1, sendingIp));
            _pending[key] = d;
        }
    }

    private static void AddFailure(List<TlsRptFailure> failures, TlsRptFailure f)
    {
        var i = failures.FindIndex(x => x.ResultType == f.ResultType && x.ReceivingMxHostname.Equals(f.ReceivingMxHostname, StringComparison.OrdinalIgnoreCase) && x.ReceivingIp == f.ReceivingIp && x.SendingIp == f.SendingIp);
        if (i < 0) failures.Add(f);
        else failures[i] = failures[i] with { Count = failures[i].Count + f.Count };
    }

    /// <summary>Adds the counts gathered since the last flush to the stored days (kept 8 days: a report is sent after one).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        Dictionary<string, TlsRptDay> pending;
        lock (_lock)
        {
            if (_pending.Count == 0) return;
            (pending, _pending) = (_pending, new Dictionary<string, TlsRptDay>(StringComparer.Ordinal));
        }
        var merged = new List<KeyValuePair<string, string>>();
        foreach (var (key, d) in pending)
        {
            var stored = await GetAsync(state, key, cancellationToken);
            var sum = stored is null ? d : Merge(stored, d);
            merged.Add(new(key, JsonSerializer.Serialize(sum, TlsRptJsonContext.Default.TlsRptDay)));
        }
        await state.PutManyAsync(Partition, merged, _time.GetUtcNow() + TimeSpan.FromDays(8), cancellationToken);
    }

    private static TlsRptDay Merge(TlsRptDay a, TlsRptDay b)
    {
        var failures = new List<TlsRptFailure>(a.Failures);
        foreach (var f in b.Failures) AddFailure(failures, f);
        return a with
        {
            PolicyStrings = b.PolicyStrings.Count > 0 ? b.PolicyStrings : a.PolicyStrings,
            MxHosts = [.. a.MxHosts.Concat(b.MxHosts).Distinct(StringComparer.OrdinalIgnoreCase)],
            Successes = a.Successes + b.Successes,
            Failures = failures,
        };
    }

    /// <summary>A stored day, or null (absent, or another format version).</summary>
    internal static async Task<TlsRptDay?> GetAsync(IStateStore state, string key, CancellationToken cancellationToken)
    {
        var entry = await state.GetAsync(Partition, key, cancellationToken);
        return entry is null ? null : Parse(entry.Value);
    }

    public static TlsRptDay? Parse(string json)
    {
        try
        {
            var d = JsonSerializer.Deserialize(json, TlsRptJsonContext.Default.TlsRptDay);
            return d is { FormatVersion: 1 } ? d : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSerializable(typeof(TlsRptDay))]
[JsonSourceGenerationOptions(UseStringEnumConverter = true)]
internal sealed partial class TlsRptJsonContext : JsonSerializerContext;
