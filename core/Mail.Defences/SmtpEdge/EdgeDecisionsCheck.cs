using Mail.Core.InboundChecks;
using Mail.Core.Model;

namespace Mail.Defences.SmtpEdge;

/// <summary>
/// Applies in the pipeline what the SMTP restrictions decided for the message but could not do at the edge (Postfix
/// access-table and policy-server actions), as <see cref="RestrictionPolicy"/> recorded them in
/// <see cref="Envelope.Decisions"/>: DISCARD → Discard, HOLD → Quarantine, PREPEND → header fields prepended in their
/// order, REDIRECT and FILTER → copied to <see cref="InboundContext.Results"/> as "policy.redirect" and "policy.filter"
/// (no stage re-routes on them yet).
/// </summary>
public sealed class EdgeDecisionsCheck : IInboundCheck
{
    public string Name => "edge-decisions";

    public Task RunAsync(InboundContext context, CancellationToken cancellationToken)
    {
        if (context.Envelope.Decisions is not { } decisions) return Task.CompletedTask;
        if (decisions.Discard is { } discard) context.Verdict.Require(Disposition.Discard, $"DISCARD at SMTP ({discard})");
        if (decisions.Hold is { } hold) context.Verdict.Require(Disposition.Quarantine, $"HOLD at SMTP ({hold})");
        if (decisions.Redirect is { } redirect) context.Results["policy.redirect"] = redirect;
        if (decisions.Filter is { } filter) context.Results["policy.filter"] = filter;
        foreach (var text in decisions.Prepend)
            if (ActionHeader.TryParse(text, out var header)) context.PrependHeaders.Add(header);
        return Task.CompletedTask;
    }
}
