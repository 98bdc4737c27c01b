using System.Globalization;
using System.Text;
using Mail.Core.InboundChecks;
using MimeKit;

namespace Mail.Defences.Scoring;

/// <summary>Points per signal and the thresholds that turn the total into a disposition.</summary>
public sealed class SpamScoreOptions
{
    /// <summary>"name=value" → points, matched against the pipeline's results (context.Results: spf, dkim, dmarc, arc, ...)
    /// and the edge's connection results (Envelope.ConnectionResults: fcrdns, dnsbl, greylist, ...). Case-insensitive.</summary>
    public Dictionary<string, double> Weights { get; init; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["spf=fail"] = 2.0,
        ["spf=softfail"] = 1.0,
        ["spf=permerror"] = 0.5,
        ["dkim=fail"] = 1.0,
        ["dkim=permerror"] = 0.5,
        ["dmarc=fail"] = 3.0,
        ["fcrdns=fail"] = 1.5,
        ["fcrdns=none"] = 1.5,
        ["fcrdns=temperror"] = 0.5,
        ["dkim=pass"] = -0.5,
        ["dmarc=pass"] = -1.0,
    };

    /// <summary>Points per point of the client's weighted DNSBL score (connection result "dnsbl.score", recorded at connect
    /// when Defences:DnsblSites is configured and the client stayed below the reject threshold).</summary>
    public double DnsblPointWeight { get; init; } = 1.0;

    /// <summary>Score at or above which the message goes to Junk.</summary>
    public double JunkThreshold { get; init; } = 5.0;

    /// <summary>Score at or above which the message is quarantined; null: never by score.</summary>
    public double? QuarantineThreshold { get; init; } = 10.0;

    /// <summary>Score at or above which the message is discarded; null (default): never by score.</summary>
    public double? DiscardThreshold { get; init; }

    internal void Validate()
    {
        if (QuarantineThreshold is { } q && q < JunkThreshold) throw new ArgumentException("SpamScore QuarantineThreshold must not be below JunkThreshold.");
        if (DiscardThreshold is { } d && d < (QuarantineThreshold ?? JunkThreshold)) throw new ArgumentException("SpamScore DiscardThreshold must not be below the quarantine/junk threshold.");
    }
}

/// <summary>
/// The last inbound check: adds points for the signals earlier checks and the edge recorded, sums everything in the
/// verdict (rule hits included), raises the disposition by threshold (never lowers it), and writes X-Spam-Score and
/// X-Spam-Status listing what contributed. Incoming X-Spam-* fields are removed so a sender cannot pre-label a message.
/// </summary>
public sealed class SpamScoreCheck : IInboundCheck
{
    private readonly SpamScoreOptions _options;

    public SpamScoreCheck(SpamScoreOptions? options = null)
    {
        _options = options ?? new SpamScoreOptions();
        _options.Validate();
    }

    public string Name => "spam_score";

    public Task RunAsync(InboundContext context, CancellationToken cancellationToken)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in context.Envelope.ConnectionResults.Concat(context.Results))
        {
            var key = $"{k}={v}";
            if (seen.Add(key) && _options.Weights.TryGetValue(key, out var points) && points != 0)
                context.Verdict.Add(key, points);
        }
        if (context.Envelope.ConnectionResults.TryGetValue(SmtpEdge.RestrictionPolicy.DnsblScoreResult, out var dnsbl)
            && int.TryParse(dnsbl, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var listed) && listed != 0 && _options.DnsblPointWeight != 0)
            context.Verdict.Add($"dnsbl.score={listed}", listed * _options.DnsblPointWeight);
        var score = Math.Round(context.Verdict.Score, 2);
        var s = score.ToString("0.0#", CultureInfo.InvariantCulture);
        if (_options.DiscardThreshold is { } d && score >= d) context.Verdict.Require(Disposition.Discard, $"spam score {s} >= {d.ToString(CultureInfo.InvariantCulture)}");
        else if (_options.QuarantineThreshold is { } q && score >= q) context.Verdict.Require(Disposition.Quarantine, $"spam score {s} >= {q.ToString(CultureInfo.InvariantCulture)}");
        else if (score >= _options.JunkThreshold) context.Verdict.Require(Disposition.Junk, $"spam score {s} >= {_options.JunkThreshold.ToString(CultureInfo.InvariantCulture)}");

        context.RemoveHeaders.Add(h => h.Field.Equals("X-Spam-Status", StringComparison.OrdinalIgnoreCase) || h.Field.Equals("X-Spam-Score", StringComparison.OrdinalIgnoreCase));
        var tests = new StringBuilder();
        foreach (var c in context.Verdict.Contributions)
        {
            if (tests.Length > 0) tests.Append(", ");
            tests.Append(c.Rule).Append('(').Append(c.Points.ToString("0.0#", CultureInfo.InvariantCulture)).Append(')');
        }
        var spam = context.Verdict.Disposition != Disposition.Inbox;
        context.PrependHeaders.Add(new Header("X-Spam-Score", s));
        context.PrependHeaders.Add(new Header("X-Spam-Status",
            $"{(spam ? "Yes" : "No")}, score={s} required={_options.JunkThreshold.ToString("0.0#", CultureInfo.InvariantCulture)} disposition={context.Verdict.Disposition} tests={(tests.Length == 0 ? "none" : tests.ToString())}"));
        return Task.CompletedTask;
    }
}
