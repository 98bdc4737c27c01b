using System.Net;
using System.Runtime.CompilerServices;
using Mail.Core.InboundChecks;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Defences.DnsChecks;
using Mail.Defences.Restrictions;
using Mail.Core.SmtpPolicy;
using Microsoft.Extensions.Logging;

namespace Mail.Defences.SmtpEdge;

public sealed class RestrictionPolicyOptions
{
    /// <summary>Postfix smtpd_delay_reject (default yes): client, HELO and sender restrictions are evaluated at RCPT TO,
    /// so a rejected client still learns which sender and recipient were refused, and clients that misbehave on an early
    /// reject keep talking. With false, each list runs at its own command.</summary>
    public bool DelayReject { get; init; } = true;

    /// <summary>Listener roles the restrictions apply to (default: the MX listener only; submission is governed by AUTH).</summary>
    public IReadOnlyList<SmtpListenerRole> Roles { get; init; } = [SmtpListenerRole.Mx];

    /// <summary>postscreen-style weighted DNSBL check at connect; a blocked client gets 554 instead of the greeting.</summary>
    public DnsblScoring? DnsblScoring { get; init; }

    /// <summary>header/mime_header/body checks run on the stored message before the end-of-data reply, so a REJECT rule
    /// refuses the message while the client is still connected (550). Other actions are left to the pipeline, which
    /// runs the same checks, except on a message in which no rule matched: that is recorded with it
    /// (<see cref="EdgeContentInspection.ResultName"/>) and not checked again. Needs <see cref="MessageStore"/>.</summary>
    public ContentChecks.ContentChecks? EndOfDataContentChecks { get; init; }

    /// <summary>Where the edge stores messages (to read them back for <see cref="EndOfDataContentChecks"/>).</summary>
    public IMessageStore? MessageStore { get; init; }

    /// <summary>Receives warn_if_reject warnings, WARN/INFO access actions and policy-service failures (Postfix logs them).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Whether a domain is delivered locally. When a relay/recipient list explicitly permits a recipient in a domain
    /// that is not local (e.g. permit_mynetworks), the edge's own relay refusal is skipped (outbound relay for trusted
    /// clients). Local recipients always go through the edge's user check. Null: never skip the edge's checks.</summary>
    public Func<string, CancellationToken, ValueTask<bool>>? IsLocalDomain { get; init; }
}

/// <summary>
/// The restriction lists (<see cref="RestrictionSet"/>) behind the SMTP edge's <see cref="ISmtpSessionPolicy"/> seam.
/// Lists are evaluated in Postfix order (client, helo, sender, relay, recipient at RCPT with delay_reject; data at DATA;
/// end-of-data after the message is stored). The first reject is the reply. Access actions HOLD, DISCARD, PREPEND, FILTER
/// and REDIRECT travel to the message as <see cref="SmtpPolicyResult.Decisions"/> (<see cref="EdgeDecisions"/>), applied
/// in the pipeline by <see cref="EdgeDecisionsCheck"/>.
/// Rate limits are the edge's own (Smtp:RateLimits), not part of this policy.
/// </summary>
public sealed class RestrictionPolicy(RestrictionSet restrictions, RestrictionPolicyOptions? options = null) : ISmtpSessionPolicy
{
    private readonly RestrictionPolicyOptions _options = options ?? new RestrictionPolicyOptions();

    /// <summary>Per-session memory (FCrDNS result, transaction counter), tied to the session's facts object without keeping it alive.</summary>
    private readonly ConditionalWeakTable<SmtpSessionFacts, SessionState> _sessions = new();

    private sealed class SessionState
    {
        public ClientHostnameResult? ClientHostname;
        public int Transaction;

        /// <summary>Client, HELO and sender lists depend only on the connection, the HELO name and the transaction:
        /// their decision is kept per key (so with delay_reject they run once, not at every RCPT), with its effects.</summary>
        public readonly Dictionary<SmtpStage, (string Key, SmtpPolicyResult? Reject, RestrictionEffects Effects, string Label)> Decided = [];
    }

    /// <summary>Postfix access actions that change what happens to the message, as the edge's decisions. Each hook
    /// returns only what its own evaluation produced: the edge drops the decisions of a recipient it refuses.</summary>
    private static EdgeDecisions Add(EdgeDecisions into, RestrictionEffects e, string decidedBy) =>
        into.Then(new EdgeDecisions
        {
            Hold = e.Hold ? decidedBy : null,
            Discard = e.Discard ? decidedBy : null,
            Filter = e.Filter,
            Redirect = e.Redirect,
            Prepend = [.. e.PrependHeaders],
        });

    private static SmtpPolicyResult With(SmtpPolicyResult r, EdgeDecisions effects) =>
        effects.IsEmpty ? r : r with { Decisions = effects };

    /// <summary>Connection result holding the postscreen-style weighted DNSBL score of the client (an integer).</summary>
    public const string DnsblScoreResult = "dnsbl.score";

    public async ValueTask<SmtpPolicyResult> OnConnectAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
    {
        if (!Applies(facts)) return SmtpPolicyResult.Continue;
        // The session's address: IPv4 for an IPv4 client even on a dual-stack listener (ClientAddress, at accept).
        var address = facts.ClientEndPoint.Address;
        Dictionary<string, string>? dnsbl = null;
        if (_options.DnsblScoring is { } scoring)
        {
            var r = await scoring.CheckAsync(address, cancellationToken);
            if (r.Blocked) return SmtpPolicyResult.Reject(554, "5.7.1", r.ReplyText(address));
            // Below the threshold the weighted score still counts: it travels with every message of the session
            // into the pipeline's spam score (SpamScoreOptions.DnsblPointWeight).
            dnsbl = new() { [DnsblScoreResult] = r.Score.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }
        var result = _options.DelayReject ? SmtpPolicyResult.Continue : await RunAsync(facts, null, null, [SmtpStage.Client], cancellationToken);
        if (dnsbl is null || result.Action == SmtpPolicyAction.Reject) return result;
        foreach (var (k, v) in result.Results ?? new Dictionary<string, string>()) dnsbl[k] = v;
        return result with { Results = dnsbl };
    }

    public async ValueTask<SmtpPolicyResult> OnHeloAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
    {
        if (!Applies(facts) || _options.DelayReject) return SmtpPolicyResult.Continue;
        return await RunAsync(facts, null, null, [SmtpStage.Helo], cancellationToken);
    }

    public async ValueTask<SmtpPolicyResult> OnMailFromAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
    {
        if (!Applies(facts)) return SmtpPolicyResult.Continue;
        State(facts).Transaction++;
        if (_options.DelayReject) return SmtpPolicyResult.Continue;
        return await RunAsync(facts, null, null, [SmtpStage.Sender], cancellationToken);
    }

    public async ValueTask<SmtpPolicyResult> OnRcptToAsync(SmtpSessionFacts facts, Recipient recipient, CancellationToken cancellationToken)
    {
        if (!Applies(facts)) return SmtpPolicyResult.Continue;
        return await RunAsync(facts, recipient.Address, null, [SmtpStage.Client, SmtpStage.Helo, SmtpStage.Sender, SmtpStage.Relay, SmtpStage.Recipient], cancellationToken);
    }

    public async ValueTask<SmtpPolicyResult> OnDataAsync(SmtpSessionFacts facts, CancellationToken cancellationToken) =>
        Applies(facts) ? await RunAsync(facts, null, null, [SmtpStage.Data], cancellationToken) : SmtpPolicyResult.Continue;

    public async ValueTask<SmtpPolicyResult> OnEndOfDataAsync(SmtpSessionFacts facts, StoredMessage message, CancellationToken cancellationToken)
    {
        if (!Applies(facts)) return SmtpPolicyResult.Continue;
        var r = await RunAsync(facts, null, message.Size, [SmtpStage.EndOfData], cancellationToken);
        if (r.Action == SmtpPolicyAction.Reject || _options.EndOfDataContentChecks is not { } checks || _options.MessageStore is not { } store) return r;
        await using var stream = await store.OpenReadAsync(message.Id, cancellationToken);
        if (stream is null) return r;
        // persistent: the bodies stay slices of the stored message (read for body_checks) instead of copies in memory.
        using var parsed = await MimeKit.MimeMessage.LoadAsync(MimeKit.ParserOptions.Default, stream, persistent: stream.CanSeek, cancellationToken);
        var hits = checks.Inspect(parsed);
        if (hits.Count == 0)
        {
            // Recorded with the message: the pipeline's content checks skip a message the edge found clean under the
            // same configuration (the other actions of a hit are the pipeline's, so a message with hits is checked there).
            var results = new Dictionary<string, string>(r.Results ?? new Dictionary<string, string>(), StringComparer.Ordinal)
            {
                [EdgeContentInspection.ResultName] = checks.CleanResult,
            };
            return r with { Results = results };
        }
        var reject = hits.FirstOrDefault(h => h.Match.Action.Kind == RegexpTables.TableActionKind.Reject);
        if (reject is null) return r;
        var text = reject.Match.Action.Text.Length > 0 ? reject.Match.Action.Text : "Message content rejected";
        var result = Restrictions.AccessAction.Reply(550, text, "", $"{reject.Stage} {reject.Match}");
        return SmtpPolicyResult.Reject(result.Code, result.EnhancedCode, result.Text);
    }

    private bool Applies(SmtpSessionFacts facts) => _options.Roles.Contains(facts.ListenerRole);

    private SessionState State(SmtpSessionFacts facts) => _sessions.GetValue(facts, _ => new SessionState());

    private async ValueTask<SmtpPolicyResult> RunAsync(SmtpSessionFacts facts, string? rcptTo, long? size, SmtpStage[] stages, CancellationToken ct)
    {
        var state = State(facts);
        // The edge may have confirmed the client's name already; reuse that instead of asking DNS again.
        if (state.ClientHostname is null && facts.ReverseName is { } confirmed && facts.ConnectionResults.GetValueOrDefault("fcrdns") == "pass")
            state.ClientHostname = new ClientHostnameResult(ClientHostnameStatus.Verified, confirmed, confirmed, false, "confirmed by the SMTP edge");
        var f = new SmtpFacts
        {
            ClientAddress = facts.ClientEndPoint.Address,
            ClientHostname = state.ClientHostname,
            Helo = facts.Helo,
            MailFrom = facts.MailFrom,
            RcptTo = rcptTo,
            RecipientCount = facts.Recipients.Count,
            ProtocolName = facts.Esmtp ? "ESMTP" : "SMTP",
            Tls = facts.Tls is not null,
            Size = size ?? facts.MailFromParameters?.Size,
            Instance = $"{facts.SessionId}.{state.Transaction}",
            SaslUsername = facts.AuthenticatedUser,
            // When the edge ran SPF at MAIL FROM it records the result here (reject_spf_fail, check_greylist keying).
            SpfResult = facts.ConnectionResults.GetValueOrDefault("spf"),
            SpfDomain = facts.ConnectionResults.GetValueOrDefault("spf.domain")
                        ?? (facts.MailFrom is { Length: > 0 } mf && Address.TryParse(mf, out var mfa) ? mfa.Domain : facts.Helo),
            PipelinedNow = () => facts.Pipelined,
        };
        var explicitPermit = false;
        var effects = EdgeDecisions.None;
        try
        {
            foreach (var stage in stages)
            {
                var key = stage switch
                {
                    SmtpStage.Client => "",
                    SmtpStage.Helo => facts.Helo ?? "",
                    SmtpStage.Sender => $"{state.Transaction}/{facts.MailFrom}",
                    _ => null,
                };
                if (key is not null && state.Decided.TryGetValue(stage, out var known) && known.Key == key)
                {
                    if (known.Reject is { } again) return again;
                    effects = Add(effects, known.Effects, known.Label);
                    continue;
                }
                var d = await restrictions.EvaluateAsync(stage, f, ct);
                foreach (var w in d.Effects.Warnings)
                    _options.Logger?.LogWarning("Session {SessionId} {Stage} from {Client}: {Warning} (check {Setting})", facts.SessionId, stage, f.ClientAddress, w, RestrictionSet.SettingNames[stage]);
                if (d.Outcome == RestrictionOutcome.Reject)
                    _options.Logger?.LogInformation("Session {SessionId} {Stage} from {Client}: reject: {Reply} ({DecidedBy})", facts.SessionId, stage, f.ClientAddress, d.Result.Reply, d.Result.DecidedBy);
                SmtpPolicyResult? reject = d.Outcome == RestrictionOutcome.Reject
                    ? SmtpPolicyResult.Reject(d.Result.Code, d.Result.EnhancedCode, d.Result.Text)
                    : null;
                var label = d.Result.DecidedBy.Length > 0 ? $"{RestrictionSet.SettingNames[stage]}: {d.Result.DecidedBy}" : RestrictionSet.SettingNames[stage];
                if (key is not null) state.Decided[stage] = (key, reject, d.Effects, label);
                if (reject is { } r) return r;
                effects = Add(effects, d.Effects, label);
                if (stage is SmtpStage.Relay or SmtpStage.Recipient && d.Outcome == RestrictionOutcome.Permit) explicitPermit = true;
            }
        }
        finally
        {
            state.ClientHostname = f.ClientHostname;
        }
        if (explicitPermit && rcptTo is not null && _options.IsLocalDomain is { } isLocal && Address.TryParse(rcptTo, out var a) && !await isLocal(a.Domain, ct))
            return With(SmtpPolicyResult.Accept, effects);
        return With(SmtpPolicyResult.Continue, effects);
    }

}
