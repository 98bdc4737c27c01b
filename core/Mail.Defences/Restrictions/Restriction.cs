using Mail.Core.SmtpPolicy;

namespace Mail.Defences.Restrictions;

/// <summary>One element of a restriction list, e.g. <c>permit_mynetworks</c> or <c>reject_rbl_client zen.example</c>.</summary>
public abstract class Restriction(string text)
{
    /// <summary>As written in the list (name and argument).</summary>
    public string Text { get; } = text;

    public abstract ValueTask<RestrictionResult> EvaluateAsync(RestrictionContext context, CancellationToken cancellationToken);

    public override string ToString() => Text;
}

internal sealed class DelegateRestriction(string text, Func<RestrictionContext, CancellationToken, ValueTask<RestrictionResult>> evaluate) : Restriction(text)
{
    public override ValueTask<RestrictionResult> EvaluateAsync(RestrictionContext context, CancellationToken cancellationToken) => evaluate(context, cancellationToken);
}

/// <summary>warn_if_reject, defer_if_permit, defer_if_reject: they change how later results are taken, handled by the list.</summary>
internal sealed class ModifierRestriction(string text) : Restriction(text)
{
    public override ValueTask<RestrictionResult> EvaluateAsync(RestrictionContext context, CancellationToken cancellationToken) => ValueTask.FromResult(RestrictionResult.Dunno);
}

/// <summary>State of one evaluation: the facts, the options, side effects, and the FCrDNS result cached across restrictions.</summary>
public sealed class RestrictionContext(SmtpFacts facts, RestrictionOptions options, SmtpStage stage)
{
    public SmtpFacts Facts { get; } = facts;
    public RestrictionOptions Options { get; } = options;
    public SmtpStage Stage { get; } = stage;
    public RestrictionEffects Effects { get; } = new();

    /// <summary>Set by defer_if_permit / DEFER_IF_PERMIT: a later permit becomes a 450.</summary>
    internal string? DeferIfPermit { get; set; }

    /// <summary>Set by defer_if_reject / DEFER_IF_REJECT: a later reject becomes a 450.</summary>
    internal string? DeferIfReject { get; set; }

    internal int Depth { get; set; }

    /// <summary>The FCrDNS result from the facts, or looked up once and stored in the facts.</summary>
    public async ValueTask<ClientHostnameResult> ClientHostnameAsync(CancellationToken cancellationToken)
    {
        if (Facts.ClientHostname is { } known) return known;
        var dns = Options.Dns ?? throw new InvalidOperationException("no DNS resolver configured");
        Facts.ClientHostname = await new ClientHostname(dns).ResolveAsync(Facts.ClientAddress, cancellationToken);
        return Facts.ClientHostname;
    }

    /// <summary>"name[address]" as Postfix prints the client; name is "unknown" unless forward-confirmed.</summary>
    public string ClientLabel => $"{Facts.ClientHostname?.VerifiedName ?? "unknown"}[{Facts.ClientAddress}]";
}
