using System.Globalization;
using Mail.Core.InboundChecks;
using MimeKit;

namespace Mail.Defences.SmtpEdge;

/// <summary>
/// Applies in the pipeline what the SMTP restrictions decided for the message but could not do at the edge (Postfix
/// access-table and policy-server actions), as <see cref="RestrictionPolicy"/> recorded them in Envelope.ConnectionResults:
/// "policy.discard" → Discard, "policy.hold" → Quarantine, "policy.prepend.N" → header fields prepended in N order,
/// "policy.redirect" and "policy.filter" → copied to <see cref="InboundContext.Results"/> (no stage re-routes on them yet).
/// </summary>
public sealed class EdgeDecisionsCheck : IInboundCheck
{
    public string Name => "edge-decisions";

    public Task RunAsync(InboundContext context, CancellationToken cancellationToken)
    {
        var results = context.Envelope.ConnectionResults;
        if (results.TryGetValue("policy.discard", out var discard))
            context.Verdict.Require(Disposition.Discard, $"DISCARD at SMTP ({discard})");
        if (results.TryGetValue("policy.hold", out var hold))
            context.Verdict.Require(Disposition.Quarantine, $"HOLD at SMTP ({hold})");
        if (results.TryGetValue("policy.redirect", out var redirect)) context.Results["policy.redirect"] = redirect;
        if (results.TryGetValue("policy.filter", out var filter)) context.Results["policy.filter"] = filter;

        var prepends = new List<(int Order, string Text)>();
        foreach (var (key, value) in results)
        {
            if (key.StartsWith("policy.prepend.", StringComparison.Ordinal)
                && int.TryParse(key.AsSpan("policy.prepend.".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                prepends.Add((n, value));
        }
        foreach (var (_, text) in prepends.OrderBy(p => p.Order))
            if (ActionHeader.TryParse(text, out var header)) context.PrependHeaders.Add(header);
        return Task.CompletedTask;
    }
}
