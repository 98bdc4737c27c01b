using System.Globalization;

namespace Mail.Core.Model;

/// <summary>
/// What the SMTP edge's restrictions decided for a message but could not carry out during the dialogue: the Postfix
/// access actions HOLD, DISCARD, PREPEND, REDIRECT and FILTER. The edge's policy (<c>RestrictionPolicy</c>) produces
/// them, the envelope carries them (<see cref="Envelope.Decisions"/>), and the pipeline's <c>EdgeDecisionsCheck</c>
/// applies them. HOLD and DISCARD keep the restriction that decided, for the log and the quarantine reason.
/// </summary>
public sealed record EdgeDecisions
{
    public static EdgeDecisions None { get; } = new();

    /// <summary>HOLD: the restriction that asked for it (e.g. "smtpd_sender_restrictions: check_sender_access ..."); the pipeline quarantines.</summary>
    public string? Hold { get; init; }

    /// <summary>DISCARD: the restriction that asked for it; the pipeline drops the message after the 250.</summary>
    public string? Discard { get; init; }

    /// <summary>REDIRECT: the address the message should go to instead (recorded; no stage re-routes on it yet).</summary>
    public string? Redirect { get; init; }

    /// <summary>FILTER: the transport:destination the message should go through (recorded; no stage re-routes on it yet).</summary>
    public string? Filter { get; init; }

    /// <summary>PREPEND: header fields ("Name: value") to put at the top of the message, in this order, each once.</summary>
    public IReadOnlyList<string> Prepend { get; init; } = [];

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => Hold is null && Discard is null && Redirect is null && Filter is null && Prepend.Count == 0;

    /// <summary>These decisions followed by <paramref name="later"/> ones (a later hook, or the transaction after the
    /// session): a later HOLD, DISCARD, REDIRECT or FILTER replaces an earlier one; a PREPEND already asked for is not
    /// added again, so an effect repeated at every RCPT (cached client and sender decisions) appears once.</summary>
    public EdgeDecisions Then(EdgeDecisions? later)
    {
        if (later is null || later.IsEmpty) return this;
        var prepend = new List<string>(Prepend.Count + later.Prepend.Count);
        foreach (var header in Prepend.Concat(later.Prepend))
            if (!prepend.Contains(header, StringComparer.Ordinal)) prepend.Add(header);
        return new EdgeDecisions
        {
            Hold = later.Hold ?? Hold,
            Discard = later.Discard ?? Discard,
            Redirect = later.Redirect ?? Redirect,
            Filter = later.Filter ?? Filter,
            Prepend = prepend,
        };
    }

    public bool Equals(EdgeDecisions? other) =>
        other is not null && Hold == other.Hold && Discard == other.Discard && Redirect == other.Redirect && Filter == other.Filter
        && Prepend.SequenceEqual(other.Prepend, StringComparer.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Hold, Discard, Redirect, Filter, Prepend.Count);

    // ---- envelope format versions 1 and 2 -----------------------------------------------------------------------

    private const string Version2Hold = "policy.hold", Version2Discard = "policy.discard", Version2Redirect = "policy.redirect",
        Version2Filter = "policy.filter", Version2Prepend = "policy.prepend.";

    /// <summary>
    /// Envelopes of format versions 1 and 2 carried these decisions as strings among the connection results
    /// ("policy.hold", "policy.discard", "policy.redirect", "policy.filter", "policy.prepend.N" in N order). Splits
    /// them off, so that a spool or queue written before the upgrade is applied as it was when it was written.
    /// </summary>
    /// <returns>The decisions (null when there were none) and the connection results without them.</returns>
    internal static (EdgeDecisions? Decisions, IReadOnlyDictionary<string, string> Others) FromVersion2Results(IReadOnlyDictionary<string, string> results)
    {
        if (!results.Keys.Any(k => k.StartsWith("policy.", StringComparison.Ordinal))) return (null, results);
        var rest = new Dictionary<string, string>(StringComparer.Ordinal);
        var prepends = new List<(int Order, string Text)>();
        string? hold = null, discard = null, redirect = null, filter = null;
        foreach (var (key, value) in results)
        {
            switch (key)
            {
                case Version2Hold: hold = value; break;
                case Version2Discard: discard = value; break;
                case Version2Redirect: redirect = value; break;
                case Version2Filter: filter = value; break;
                default:
                    // A prepend key without a number was never written by the edge; version 2 readers left it alone too.
                    if (key.StartsWith(Version2Prepend, StringComparison.Ordinal)
                        && int.TryParse(key.AsSpan(Version2Prepend.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                        prepends.Add((n, value));
                    else rest[key] = value;
                    break;
            }
        }
        var decisions = new EdgeDecisions
        {
            Hold = hold,
            Discard = discard,
            Redirect = redirect,
            Filter = filter,
            Prepend = prepends.OrderBy(p => p.Order).Select(p => p.Text).ToArray(),
        };
        return (decisions.IsEmpty ? null : decisions, rest);
    }
}
