using System.Buffers;
using System.Diagnostics;
using System.Text;
using Mail.Core.Accounts;
using Mail.Core.Messages;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Telemetry;
using Mail.Core.Tracing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mail.Pipeline.Quarantine;
using MimeKit;

namespace Mail.Pipeline.Inbound;

/// <summary>
/// Processes one accepted envelope: parse the stored message, run the checks, deliver a copy to each local
/// recipient's mailbox and hand remote recipients to the outbound queue.
/// Idempotent: the delivered copy has a deterministic id (<see cref="DeliveryId"/>) and the mailbox append a
/// delivery key, so processing the same envelope again creates no duplicate.
/// Dispositions: Inbox → INBOX; Junk → Junk; Quarantine → held for an operator in the <see cref="QuarantineStore"/>
/// (given a state store; nothing is delivered or relayed until <see cref="ReleaseAsync"/>; without one, filed to Junk
/// with an <c>X-Quarantine</c> header naming the reason); Discard → nothing is delivered or relayed.
/// The original raw message is deleted by the worker (<see cref="DeleteOriginalAsync"/>) once every recipient was
/// delivered locally; it is kept when the outbound queue references it, or when nothing was delivered (discard,
/// unknown users): cleaning those up is a retention job that does not exist yet.
/// </summary>
public sealed class InboundStage(
    IMessageStore messages,
    IMailboxStore mailboxes,
    MailDirectory directory,
    IMessageQueue outbound,
    IEnumerable<IInboundCheck> checks,
    ILogger<InboundStage>? logger = null,
    IStateStore? state = null,
    TimeProvider? time = null,
    IForwardSealer? sealer = null,
    UserQuotas? quotas = null)
{
    public const string InboxMailbox = "INBOX";
    public const string JunkMailbox = "Junk";

    private readonly IReadOnlyList<IInboundCheck> _checks = [.. checks];
    private readonly ILogger _log = logger ?? NullLogger<InboundStage>.Instance;
    private readonly QuarantineStore? _quarantine = state is null ? null : new QuarantineStore(state);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    /// <summary>Each message's steps for `mail trace` (given a state store).</summary>
    private readonly MessageTrail? _trail = state is null ? null : new MessageTrail(state, time);
    private SieveFilter? _sieve;

    public async Task<InboundResult> ProcessAsync(Envelope envelope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var steps = new List<TraceEvent>();
        var handOffs = new List<Task>(1);
        InboundResult result;
        try
        {
            result = await ProcessStepsAsync(envelope, steps, handOffs, cancellationToken);
        }
        catch
        {
            // A hand-off already started finishes (or fails) before the stage's failure is reported and retried.
            try
            {
                await Task.WhenAll(handOffs);
            }
            catch (Exception)
            {
                // The stage's own failure is the one reported.
            }
            throw;
        }
        if (_trail is not null)
        {
            var c = envelope.Client;
            steps.Insert(0, new TraceEvent(envelope.ReceivedAt, TraceStep.Received,
                $"from {c.Helo} [{c.Address}]{(c.ReverseName is { } rn ? " (" + rn + ")" : "")} over {c.Protocol}{(c.Tls is null ? "" : " with TLS")} on {c.Listener}"
                + $"{(envelope.AuthenticatedUser is { } u ? ", authenticated as " + u : "")}, <{envelope.MailFrom}> to {string.Join(", ", envelope.Recipients.Select(r => r.Address))}, {envelope.Size} octets"));
            handOffs.Add(_trail.AppendAsync(envelope, [.. steps, .. Outcome(envelope, result)], cancellationToken));
        }
        // The outbound hand-off's durability barrier and the trail's group commit are two syncs: waited for together
        // rather than one after the other (each inbound loop spent its time in these waits, not in CPU). Both are
        // durable before this returns and the inbound envelope is completed, as when they were waited for in turn.
        await Task.WhenAll(handOffs);
        return result;
    }

    /// <summary>Where the copies went, as trace steps.</summary>
    private IEnumerable<TraceEvent> Outcome(Envelope envelope, InboundResult result)
    {
        var now = _time.GetUtcNow();
        if (result.Disposition == Disposition.Quarantine && _quarantine is not null && result.Delivered.Count == 0 && result.Remote.Count == 0)
            yield return new TraceEvent(now, TraceStep.Quarantined, $"held for an operator: {result.Reason}");
        foreach (var d in result.Delivered)
            yield return new TraceEvent(now, TraceStep.Delivered, $"to {d.User} {d.Mailbox} uid {d.Uid}{(d.AlreadyPresent ? " (already present)" : "")}", d.User);
        foreach (var u in result.UnknownLocal) yield return new TraceEvent(now, TraceStep.NotDelivered, "no such local user (any more)", u);
        if (result.Remote.Count > 0) yield return new TraceEvent(now, TraceStep.QueuedOutbound, $"{result.Remote.Count} remote recipient(s) queued outbound: {string.Join(", ", result.Remote)}");
        foreach (var f in result.Forwarded) yield return new TraceEvent(now, TraceStep.QueuedOutbound, $"forwarded (alias): queued outbound as {ForwardId(envelope.QueueId)}", f);
    }

    /// <summary>A delivery an earlier attempt recorded (the Delivered step <see cref="Outcome"/> writes), read back; null
    /// when <paramref name="e"/> is not one for <paramref name="user"/>.</summary>
    private static LocalDelivery? RecordedDelivery(TraceEvent e, string queueId, string user)
    {
        if (e.Step != TraceStep.Delivered || e.Recipient != user) return null;
        var prefix = $"to {user} ";
        var text = e.Text.EndsWith(" (already present)", StringComparison.Ordinal) ? e.Text[..^" (already present)".Length] : e.Text;
        var at = text.LastIndexOf(" uid ", StringComparison.Ordinal);
        if (!text.StartsWith(prefix, StringComparison.Ordinal) || at < prefix.Length
            || !long.TryParse(text.AsSpan(at + 5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var uid)) return null;
        return new LocalDelivery(user, text[prefix.Length..at], uid, DeliveryId.MessageId(queueId, user), AlreadyPresent: true);
    }

    private async Task<InboundResult> ProcessStepsAsync(Envelope envelope, List<TraceEvent> steps, List<Task> handOffs, CancellationToken cancellationToken)
    {
        // Sort recipients first, so unknown local users are logged whatever the checks decide.
        var (local, remote, unknown, forward) = await SortRecipientsAsync(envelope, cancellationToken);

        var opened = await messages.OpenReadAsync(envelope.MessageRef, cancellationToken);
        if (opened is null) return await RecoverWithoutOriginalAsync(envelope, local.Select(l => l.User).ToList(), remote, unknown, forward, cancellationToken);
        await using var raw = opened;
        InboundContext context;
        if (raw.CanSeek && envelope.ConnectionResults.ContainsKey(EdgeContentInspection.ResultName))
        {
            // The SMTP edge parsed these very bytes with MimeKit for its content checks, so they parse: MimeKit parses
            // them here only for a check or a Sieve script that reads the parse (DKIM and DMARC read the bytes).
            context = new InboundContext(envelope, raw);
        }
        else
        {
            try
            {
                // persistent: MimeKit keeps bodies as slices of the store's stream instead of copying them to memory.
                context = new InboundContext(envelope, await MimeMessage.LoadAsync(ParserOptions.Default, raw, persistent: raw.CanSeek, cancellationToken), raw);
            }
            catch (FormatException e)
            {
                throw new PermanentDeliveryException($"Message {envelope.MessageRef} of {envelope.QueueId} cannot be parsed: {e.Message}", e);
            }
        }
        using var _ = context;

        foreach (var check in _checks)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var span = MailTelemetry.Inbound.StartActivity("inbound.check", ActivityKind.Internal);
            span?.SetTag("mail.check", check.Name);
            await check.RunAsync(context, cancellationToken);
        }
        var verdict = context.Verdict;
        CountResults(context.Results, verdict.Disposition);
        var checkedAt = _time.GetUtcNow();
        foreach (var (name, value) in context.Results) steps.Add(new TraceEvent(checkedAt, TraceStep.Check, $"{name}={value}"));
        if (verdict.Score != 0 || verdict.Contributions.Count > 0)
            steps.Add(new TraceEvent(checkedAt, TraceStep.Check, $"score {verdict.Score:0.0}: {string.Join(", ", verdict.Contributions.Select(x => $"{x.Rule} {x.Points:+0.0;-0.0}"))}"));
        steps.Add(new TraceEvent(checkedAt, TraceStep.Verdict, DispositionName(verdict.Disposition) + (verdict.Reason is { } why ? ": " + why : "")));
        if (Activity.Current is { } run && run.Source == MailTelemetry.Inbound) run.SetTag("mail.disposition", DispositionName(verdict.Disposition));
        if (verdict.Disposition == Disposition.Discard)
        {
            _log.LogInformation("{QueueId}: discarded ({Reason})", envelope.QueueId, verdict.Reason);
            return new InboundResult(verdict.Disposition, verdict.Reason, [], [], unknown);
        }
        if (verdict.Disposition == Disposition.Quarantine && _quarantine is not null)
        {
            // Held: the raw message stays (the worker deletes originals only after a delivery), the entry says why.
            var reason = verdict.Reason ?? "quarantined by policy";
            await _quarantine.PutAsync(envelope, reason, (time ?? TimeProvider.System).GetUtcNow(), cancellationToken);
            _log.LogWarning("{QueueId}: quarantined ({Reason}); `mail quarantine release {QueueId}` delivers it", envelope.QueueId, reason, envelope.QueueId);
            return new InboundResult(verdict.Disposition, reason, [], [], unknown);
        }

        var mailbox = verdict.Disposition == Disposition.Inbox ? InboxMailbox : JunkMailbox;
        var prepend = new List<Header>(context.PrependHeaders);
        if (verdict.Disposition == Disposition.Quarantine)
            prepend.Insert(0, new Header("X-Quarantine", verdict.Reason ?? "quarantined by policy"));
        return await DeliverAsync(envelope, raw, local, remote, unknown, forward, mailbox, prepend, context.RemoveHeaders, verdict.Disposition, verdict.Reason, cancellationToken,
            // Built only for a user with an active script: most have none, and reshaping MimeKit's header list was the
            // larger part of the Sieve step's CPU per message.
            new Lazy<MimeMessage>(() => SieveView(context.Message, prepend, context.RemoveHeaders), LazyThreadSafetyMode.None), handOffs);
    }

    /// <summary>The message as the user's Sieve script sees it: as delivered, with our checks' header fields on top
    /// (X-Spam-Status among them) and the fields they remove gone. Changes the parse in place: nothing reads it after.</summary>
    private static MimeMessage SieveView(MimeMessage parsed, IReadOnlyList<Header> prepend, IReadOnlyList<Func<Header, bool>> remove)
    {
        for (var i = parsed.Headers.Count - 1; i >= 0; i--)
            if (remove.Any(p => p(parsed.Headers[i]))) parsed.Headers.RemoveAt(i);
        for (var i = prepend.Count - 1; i >= 0; i--) parsed.Headers.Insert(0, new Header(prepend[i].Field, prepend[i].Value));
        return parsed;
    }

    /// <summary>
    /// Delivers a quarantined message as if its checks had passed: local recipients' INBOX, remote ones to the
    /// outbound queue; then drops the original (when fully delivered locally) and the entry. Idempotent like
    /// <see cref="ProcessAsync"/>: a release interrupted and repeated creates no duplicate. Null when no such entry.
    /// </summary>
    public async Task<InboundResult?> ReleaseAsync(string queueId, CancellationToken cancellationToken = default)
    {
        if (_quarantine is null) throw new InvalidOperationException("This inbound stage has no state store, so it has no quarantine");
        if (await _quarantine.GetAsync(queueId, cancellationToken) is not { } entry) return null;
        var envelope = entry.Envelope;
        var (local, remote, unknown, forward) = await SortRecipientsAsync(envelope, cancellationToken);
        InboundResult result;
        var opened = await messages.OpenReadAsync(envelope.MessageRef, cancellationToken);
        if (opened is null)
        {
            result = await RecoverWithoutOriginalAsync(envelope, local.Select(l => l.User).ToList(), remote, unknown, forward, cancellationToken);
        }
        else
        {
            await using (opened)
                result = await DeliverAsync(envelope, opened, local, remote, unknown, forward, InboxMailbox, [new Header("X-Quarantine-Released", entry.Reason)], [],
                    Disposition.Inbox, "released from quarantine", cancellationToken);
            if (result.OriginalDone) await DeleteOriginalAsync(envelope, cancellationToken);
        }
        await _quarantine.DeleteAsync(queueId, cancellationToken);
        _log.LogInformation("{QueueId}: released from quarantine", queueId);
        if (_trail is not null)
            await _trail.AppendAsync(envelope, [new TraceEvent(_time.GetUtcNow(), TraceStep.Released, "released from quarantine by an operator"), .. Outcome(envelope, result)], cancellationToken);
        return result;
    }

    /// <summary>Each recipient resolved once (<see cref="MailDirectory.ResolveAsync"/>): local users (each once, however many
    /// recipients and aliases reach them), remote recipients (relayed as they are), unknown ones, and the remote targets
    /// of aliases (forwarded, each once, unless also a remote recipient).</summary>
    private async Task<(List<(string User, Recipient Rcpt)> Local, List<Recipient> Remote, List<string> Unknown, Forward? Forward)> SortRecipientsAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        var local = new List<(string User, Recipient Rcpt)>();
        var remote = new List<Recipient>();
        var unknown = new List<string>();
        var forwards = new List<string>();
        string? forwardingDomain = null;
        foreach (var r in envelope.Recipients)
        {
            var resolution = await directory.ResolveAsync(r.Address, cancellationToken);
            switch (resolution.Outcome)
            {
                case ResolutionOutcome.Remote:
                    remote.Add(r);
                    break;
                case ResolutionOutcome.Deliverable:
                    foreach (var user in resolution.Users)
                        if (!local.Exists(l => l.User == user)) local.Add((user, r));
                    foreach (var target in resolution.Forwards)
                        if (!forwards.Contains(target, StringComparer.OrdinalIgnoreCase)) forwards.Add(target);
                    if (resolution.Forwards.Count > 0) forwardingDomain ??= MailDirectory.Canonical(r.Address) is { } a ? a[(a.LastIndexOf('@') + 1)..] : null;
                    foreach (var target in resolution.Unknown)
                        _log.LogWarning("{QueueId}: alias target {Target} of {Recipient} reaches nobody; not delivered", envelope.QueueId, target, r.Address);
                    break;
                default:
                    // Accepted at RCPT, changed since (a user removed, an alias edited into a loop): held back, logged.
                    unknown.Add(r.Address);
                    _log.LogWarning("{QueueId}: {Recipient} not delivered: {Why}", envelope.QueueId, r.Address,
                        resolution.Outcome == ResolutionOutcome.Unknown ? "no such local user" : resolution.Why);
                    break;
            }
        }
        forwards.RemoveAll(f => remote.Exists(r => string.Equals(r.Address, f, StringComparison.OrdinalIgnoreCase)));
        return (local, remote, unknown, forwards.Count > 0 && forwardingDomain is not null ? new Forward(forwardingDomain, forwards) : null);
    }

    /// <summary>Remote alias targets of one envelope, forwarded by <paramref name="Domain"/> (the SRS domain).</summary>
    private sealed record Forward(string Domain, IReadOnlyList<string> Targets);

    private async Task<InboundResult> DeliverAsync(Envelope envelope, Stream raw, List<(string User, Recipient Rcpt)> local, List<Recipient> remote, List<string> unknown,
        Forward? forward, string mailbox, IReadOnlyList<Header> prepend, IReadOnlyList<Func<Header, bool>> remove, Disposition disposition, string? reason, CancellationToken cancellationToken,
        Lazy<MimeMessage>? sieveView = null, List<Task>? handOffs = null)
    {
        var delivered = new List<LocalDelivery>();
        if (local.Count > 0)
        {
            HeaderBlock? headers = null;
            foreach (var (user, rcpt) in local)
            {
                // The user's Sieve script (none: the verdict's mailbox). Not for a released or quarantined message.
                var plan = sieveView is null || disposition == Disposition.Quarantine
                    ? DeliveryPlan.Default(mailbox)
                    : await (_sieve ??= new SieveFilter(directory, mailboxes, _log, _time)).PlanAsync(envelope, user, rcpt.Address, sieveView, envelope.Size, mailbox, cancellationToken);
                if (plan.Redirects.Count > 0) await RedirectAsync(envelope, raw, user, plan.Redirects, prepend, remove, cancellationToken);
                if (plan.Vacation is { } vacation) await VacationAsync(envelope, user, vacation, sieveView!.Value, mailbox == JunkMailbox, cancellationToken);
                if (plan.Stores.Count == 0) continue;
                // One span per mailbox copy: the copy written to the message store and its index row appended.
                using var write = MailTelemetry.Inbound.StartActivity("mailbox.write", ActivityKind.Internal);
                write?.SetTag("mail.mailbox", mailbox);
                var messageId = DeliveryId.MessageId(envelope.QueueId, user);
                long size;
                if (await messages.ExistsAsync(messageId, cancellationToken))
                {
                    // Written by an earlier attempt: reuse it, never rewrite a copy a mailbox may already reference.
                    await using var existing = await messages.OpenReadAsync(messageId, cancellationToken)
                        ?? throw new InvalidOperationException($"{messageId} vanished");
                    size = existing.Length;
                }
                else
                {
                    if (headers is null)
                    {
                        var (headerStream, owned) = await RewindOrReopenAsync(raw, envelope, cancellationToken);
                        try
                        {
                            headers = await HeaderBlock.ReadAsync(headerStream, cancellationToken);
                        }
                        finally
                        {
                            if (owned) await headerStream.DisposeAsync();
                        }
                    }
                    size = await WriteCopyAsync(raw, envelope, user, messageId, headers, prepend, remove, cancellationToken);
                }
                var appends = new List<(string Mailbox, NewMessage Message)>(plan.Stores.Count);
                foreach (var store in plan.Stores)
                {
                    // One idempotency key per mailbox: the verdict's mailbox keeps the plain key (a redelivery's recovery
                    // finds it), another mailbox of the script adds its name.
                    var key = DeliveryId.Key(envelope.QueueId, user) + (store.Mailbox == mailbox ? "" : "|" + store.Mailbox);
                    if (store.Create && await mailboxes.GetMailboxAsync(user, store.Mailbox, cancellationToken) is null)
                    {
                        await mailboxes.EnsureUserMailboxesAsync(user, cancellationToken);
                        try
                        {
                            if (await mailboxes.GetMailboxAsync(user, store.Mailbox, cancellationToken) is null)
                                await mailboxes.CreateMailboxAsync(user, store.Mailbox, cancellationToken: cancellationToken);
                        }
                        catch (MailboxExistsException)
                        {
                            // Made meanwhile by the user's IMAP client or a parallel delivery: what :create wanted.
                        }
                    }
                    appends.Add((store.Mailbox, new NewMessage(messageId, size, envelope.ReceivedAt, store.Flags, key)));
                }
                // All the user's rows at once: one after the other, an EXPUNGE of the first would delete the copy before
                // the next row names it.
                var results = await AppendCreatingMailboxesAsync(user, appends, cancellationToken);
                for (var i = 0; i < results.Count; i++)
                {
                    var (stored, result) = (appends[i].Mailbox, results[i]);
                    delivered.Add(new LocalDelivery(user, stored, result.Message.Uid, result.Message.MessageRef, result.AlreadyPresent));
                    if (!result.AlreadyPresent) await NoteOverQuotaAsync(envelope, user, size, cancellationToken);
                    _log.LogInformation("{QueueId}: delivered to {User} {Mailbox} uid {Uid}{Again}", envelope.QueueId, user, stored, result.Message.Uid,
                        result.AlreadyPresent ? " (already present)" : "");
                }
            }
        }

        if (remote.Count > 0)
        {
            // No outbound stage yet: the envelope waits in the "outbound" queue, nothing is lost.
            // A redelivered inbound envelope enqueues it again; the outbound stage must dedupe on QueueId + recipient.
            // Given handOffs, the caller waits for it (with its other syncs) before the envelope counts as done.
            var send = QueueRemoteAsync(envelope with { Recipients = remote }, cancellationToken);
            if (handOffs is null) await send;
            else handOffs.Add(send);
        }
        if (forward is not null) await ForwardAsync(envelope, raw, forward, ForwardId(envelope.QueueId), prepend, remove, cancellationToken);
        return new InboundResult(disposition, reason, delivered, remote.Select(r => r.Address).ToList(), unknown, forward?.Targets ?? []);
    }

    /// <summary>The remote recipients' envelope into the outbound queue, durable when this returns.</summary>
    private async Task QueueRemoteAsync(Envelope remote, CancellationToken cancellationToken)
    {
        await outbound.SendAsync(remote, cancellationToken: cancellationToken);
        _log.LogInformation("{QueueId}: {Count} remote recipient(s) queued to {Queue}", remote.QueueId, remote.Recipients.Count, outbound.Name);
    }

    /// <summary>
    /// Forwards to remote alias targets as Postfix does after virtual_alias_maps, with postsrsd's sender rewriting: a copy
    /// of the original under its own id (<see cref="ForwardId"/>, so it outlives the original and a redelivery reuses it),
    /// queued outbound with the SRS0 reverse-path at the forwarding domain, so the receiver's SPF check is about us and
    /// a bounce comes back to us (and then to the sender). Not rewritten: the null sender (nothing answers a bounce) and
    /// a sender in one of our domains (our SPF covers it already).
    /// </summary>
    private async Task ForwardAsync(Envelope envelope, Stream raw, Forward forward, string id, IReadOnlyList<Header> prepend, IReadOnlyList<Func<Header, bool>> remove,
        CancellationToken cancellationToken)
    {
        long size;
        if (await messages.ExistsAsync(id, cancellationToken))
        {
            await using var existing = await messages.OpenReadAsync(id, cancellationToken) ?? throw new InvalidOperationException($"{id} vanished");
            size = existing.Length;
        }
        else
        {
            // The copy as it leaves: our checks' header fields (Authentication-Results first) on the original, then the
            // ARC set over that. Built in memory: the seal covers the whole message.
            var (headerStream, owned) = await RewindOrReopenAsync(raw, envelope, cancellationToken);
            HeaderBlock headers;
            try
            {
                headers = await HeaderBlock.ReadAsync(headerStream, cancellationToken);
            }
            finally
            {
                if (owned) await headerStream.DisposeAsync();
            }
            var copy = new MemoryStream();
            await WriteMessageAsync((bytes, ct) => copy.WriteAsync(bytes, ct), raw, envelope, string.Concat(prepend.Select(Format)), headers, remove, cancellationToken);
            var seal = "";
            if (sealer is not null)
            {
                copy.Position = 0;
                using var parsed = await MimeMessage.LoadAsync(ParserOptions.Default, copy, persistent: true, cancellationToken);
                seal = await sealer.SealAsync(parsed, forward.Domain, cancellationToken);
            }
            await using var writer = await messages.CreateAsync(id, cancellationToken);
            await writer.WriteAsync(Encoding.ASCII.GetBytes(seal), cancellationToken);
            await writer.WriteAsync(copy.GetBuffer().AsMemory(0, (int)copy.Length), cancellationToken);
            size = (await writer.CommitAsync(cancellationToken)).Size;
        }
        var sender = envelope.MailFrom;
        if (directory.Srs is { } srs && !envelope.IsNullSender && Address.TryParse(sender, out var from) && !await directory.IsLocalDomainAsync(from.Domain, cancellationToken))
            sender = await srs.ForwardAsync(sender, forward.Domain, cancellationToken);
        await outbound.SendAsync(new Envelope
        {
            QueueId = id,
            MessageRef = id,
            ReceivedAt = envelope.ReceivedAt,
            Size = size,
            Client = envelope.Client,
            MailFrom = sender,
            MailFromParameters = envelope.MailFromParameters with { Size = size },
            Recipients = [.. forward.Targets.Select(t => new Recipient { Address = t })],
            TraceParent = envelope.TraceParent,
        }, cancellationToken: cancellationToken);
        _log.LogInformation("{QueueId}: forwarded as {ForwardId} from <{Sender}> to {Targets}", envelope.QueueId, id, sender, string.Join(", ", forward.Targets));
    }

    /// <summary>The checks' results named in <c>mail.checks.results</c> (the tokens of Authentication-Results), and the verdict.</summary>
    private static readonly string[] s_countedResults = ["spf", "dkim", "dmarc", "arc", "auth"];

    private static void CountResults(Dictionary<string, string> results, Disposition disposition)
    {
        if (!MailTelemetry.CheckResults.Enabled) return;
        foreach (var name in s_countedResults)
            if (results.TryGetValue(name, out var value)) MailTelemetry.CheckResult(name, value);
        MailTelemetry.CheckResult("disposition", DispositionName(disposition));
    }

    private static string DispositionName(Disposition d) => d switch
    {
        Disposition.Inbox => "inbox",
        Disposition.Junk => "junk",
        Disposition.Quarantine => "quarantine",
        _ => "discard",
    };

    /// <summary>A Sieve redirect: the alias forwarding path (its own copy, SRS sender, ARC seal) under an id of this user's,
    /// sent once per envelope and user (a record in the state store), so a re-run after a crash sends no second copy.</summary>
    private async Task RedirectAsync(Envelope envelope, Stream raw, string user, IReadOnlyList<string> targets, IReadOnlyList<Header> prepend,
        IReadOnlyList<Func<Header, bool>> remove, CancellationToken cancellationToken)
    {
        var id = DeliveryId.MessageId(envelope.QueueId + "-redirect", user);
        if (state is not null && !await state.TryPutAsync(SieveSentPartition, id, "redirect", null, _time.GetUtcNow().AddDays(30), cancellationToken))
        {
            _log.LogInformation("{QueueId}: sieve redirect of {User} already queued as {Id}", envelope.QueueId, user, id);
            return;
        }
        await ForwardAsync(envelope, raw, new Forward(user[(user.LastIndexOf('@') + 1)..], targets), id, prepend, remove, cancellationToken);
    }

    private const string SieveSentPartition = "sieve-sent";

    /// <summary>A vacation reply (<see cref="VacationResponder"/>): queued outbound with the null sender, at most once per
    /// sender per :days.</summary>
    private async Task VacationAsync(Envelope envelope, string user, Sieve.VacationAction vacation, MimeMessage view, bool junk, CancellationToken cancellationToken)
    {
        if (VacationResponder.WhyNot(envelope, user, vacation, view, directory.Recipients, junk) is { } why)
        {
            _log.LogInformation("{QueueId}: vacation of {User}: no reply to <{Sender}> ({Why})", envelope.QueueId, user, envelope.MailFrom, why);
            return;
        }
        if (state is null) return;
        var now = _time.GetUtcNow();
        if (!await state.TryPutAsync("vacation:" + user, VacationResponder.RecordKey(envelope.MailFrom, vacation), now.ToString("O"), null, now + vacation.Period, cancellationToken))
        {
            _log.LogInformation("{QueueId}: vacation of {User}: <{Sender}> was answered within {Days} day(s)", envelope.QueueId, user, envelope.MailFrom, vacation.Period.TotalDays);
            return;
        }
        // :from may name another of the user's addresses, never a domain that is not ours (the reply would forge it).
        if (vacation.From is { } from && (!InternetAddressList.TryParse(from, out var fromList) || fromList.Mailboxes.FirstOrDefault() is not { } fromMailbox
                || !Address.TryParse(fromMailbox.Address, out var fromAddress) || !await directory.IsLocalDomainAsync(fromAddress.Domain, cancellationToken)))
        {
            _log.LogInformation("{QueueId}: vacation of {User}: :from {From} is not in a local domain; the reply is from {User}", envelope.QueueId, user, from, user);
            vacation = vacation with { From = null };
        }
        var id = DeliveryId.MessageId(envelope.QueueId + "-vacation", user);
        var bytes = VacationResponder.Build(envelope, user, vacation, view, now);
        await using (var writer = await messages.CreateAsync(id, cancellationToken))
        {
            await writer.WriteAsync(bytes, cancellationToken);
            await writer.CommitAsync(cancellationToken);
        }
        await outbound.SendAsync(new Envelope
        {
            QueueId = id,
            MessageRef = id,
            ReceivedAt = now,
            Size = bytes.Length,
            Client = envelope.Client,
            MailFrom = "",
            MailFromParameters = new MailFromParameters { Size = bytes.Length },
            Recipients = [new Recipient { Address = envelope.MailFrom }],
            TraceParent = envelope.TraceParent,
        }, cancellationToken: cancellationToken);
        _log.LogInformation("{QueueId}: vacation reply of {User} to <{Sender}> queued as {Id}", envelope.QueueId, user, envelope.MailFrom, id);
    }

    /// <summary>The queue id and message id of an envelope's forwarded copy.</summary>
    public static string ForwardId(string queueId) => queueId + "-fwd";

    /// <summary>
    /// Deletes the raw message the edge stored, once the envelope is settled and every copy lives in a mailbox
    /// (call only when <see cref="InboundResult.Delivered"/> is non-empty and <see cref="InboundResult.Remote"/> empty:
    /// the outbound queue still references the original). A redelivery after this is recognised by
    /// <see cref="ProcessAsync"/> from the delivered copies.
    /// </summary>
    public Task DeleteOriginalAsync(Envelope envelope, CancellationToken cancellationToken = default) =>
        messages.DeleteAsync(envelope.MessageRef, cancellationToken);

    /// <summary>
    /// The edge refuses what does not fit a user's quota before it says 250; a message can still take a user over the
    /// limit when deliveries race (two accepted at once, each fitting alone) or the limit was lowered since. It is
    /// stored all the same: after 250 nothing is bounced or lost (ARCHITECTURE.md). The log says so, for the admin.
    /// </summary>
    private async Task NoteOverQuotaAsync(Envelope envelope, string user, long size, CancellationToken cancellationToken)
    {
        if (quotas is null || await quotas.GetLimitedAsync(user, cancellationToken) is not { } q || q.Used <= q.Limit) return;
        _log.LogWarning("{QueueId}: delivered to {User} over quota ({Used} of {Limit} octets used, this message {Size}); accepted before the limit was reached",
            envelope.QueueId, user, q.Used, q.Limit, size);
    }

    /// <summary>Appends (all or none); on the first delivery to a new user (or after they deleted Junk) creates the standard mailboxes first.</summary>
    private async Task<IReadOnlyList<AppendResult>> AppendCreatingMailboxesAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends,
        CancellationToken cancellationToken)
    {
        try
        {
            return await mailboxes.AppendAllAsync(user, appends, cancellationToken);
        }
        catch (MailboxNotFoundException)
        {
            await mailboxes.EnsureUserMailboxesAsync(user, cancellationToken);
            return await mailboxes.AppendAllAsync(user, appends, cancellationToken);
        }
    }

    /// <summary>The original is gone. That is expected only when an earlier attempt delivered everything and
    /// deleted it (then the envelope came back: a redelivery). A user whose delivery the trail records is done; for the
    /// others, if the copy exists, make sure it is indexed (idempotent). Success when every local user is one or the
    /// other; anything else is a real loss and a permanent failure.</summary>
    private async Task<InboundResult> RecoverWithoutOriginalAsync(Envelope envelope, List<string> localUsers, List<Recipient> remote, List<string> unknown, Forward? forward,
        CancellationToken cancellationToken)
    {
        var missing = new PermanentDeliveryException($"Message {envelope.MessageRef} of {envelope.QueueId} is not in the message store");
        if ((localUsers.Count == 0 && forward is null) || remote.Count > 0) throw missing;
        // The forwarded copy was queued before the original could be deleted.
        if (forward is not null && !await messages.ExistsAsync(ForwardId(envelope.QueueId), cancellationToken)) throw missing;
        // The trail is written after every copy was appended and before the original is deleted: a Delivered step there
        // means this user's delivery was done, even if the copy is gone since (the user expunged it, and the copy went
        // with its last row). Appending again would bring back what the user deleted, and a missing copy is no loss.
        var recorded = _trail is null ? null : await _trail.GetAsync(envelope.QueueId, cancellationToken);
        var delivered = new List<LocalDelivery>();
        foreach (var user in localUsers)
        {
            if (recorded?.Events.Select(e => RecordedDelivery(e, envelope.QueueId, user)).LastOrDefault(d => d is not null) is { } earlier)
            {
                delivered.Add(earlier);
                continue;
            }
            var messageId = DeliveryId.MessageId(envelope.QueueId, user);
            await using var copy = await messages.OpenReadAsync(messageId, cancellationToken);
            if (copy is null) throw missing;
            var message = new NewMessage(messageId, copy.Length, envelope.ReceivedAt, [], DeliveryId.Key(envelope.QueueId, user));
            var result = (await AppendCreatingMailboxesAsync(user, [(InboxMailbox, message)], cancellationToken))[0];
            delivered.Add(new LocalDelivery(user, InboxMailbox, result.Message.Uid, result.Message.MessageRef, result.AlreadyPresent));
        }
        _log.LogInformation("{QueueId}: redelivered after completion; all {Count} cop(ies) already delivered", envelope.QueueId, delivered.Count);
        return new InboundResult(Disposition.Inbox, "redelivery of a delivered envelope", delivered, [], unknown, forward?.Targets ?? []);
    }

    /// <summary>The already open original, rewound (the checks are done with it), or a fresh stream when the store's
    /// stream cannot seek. Reusing the open stream also keeps working if a concurrent redelivery deletes the original.</summary>
    private async Task<(Stream Stream, bool Owned)> RewindOrReopenAsync(Stream raw, Envelope envelope, CancellationToken cancellationToken)
    {
        if (raw.CanSeek)
        {
            raw.Seek(0, SeekOrigin.Begin);
            return (raw, false);
        }
        var fresh = await messages.OpenReadAsync(envelope.MessageRef, cancellationToken)
            ?? throw new PermanentDeliveryException($"Message {envelope.MessageRef} of {envelope.QueueId} is not in the message store");
        return (fresh, true);
    }

    /// <summary>Return-Path + Delivered-To + the checks' headers + the original fields not removed, then the body copied as bytes.</summary>
    private async Task<long> WriteCopyAsync(Stream raw, Envelope envelope, string user, string messageId, HeaderBlock headers, IReadOnlyList<Header> prepend,
        IReadOnlyList<Func<Header, bool>> remove, CancellationToken cancellationToken)
    {
        await using var writer = await messages.CreateAsync(messageId, cancellationToken);
        var top = new StringBuilder();
        top.Append("Return-Path: <").Append(Clean(envelope.MailFrom)).Append(">\r\n");
        top.Append("Delivered-To: ").Append(Clean(user)).Append("\r\n");
        foreach (var h in prepend) top.Append(Format(h));
        await WriteMessageAsync(writer.WriteAsync, raw, envelope, top.ToString(), headers, remove, cancellationToken);
        var stored = await writer.CommitAsync(cancellationToken);
        return stored.Size;
    }

    /// <summary>New header fields on top, the original fields not removed, then the original body copied as bytes.</summary>
    private async Task WriteMessageAsync(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> write, Stream raw, Envelope envelope, string top, HeaderBlock headers,
        IReadOnlyList<Func<Header, bool>> remove, CancellationToken cancellationToken)
    {
        await write(Encoding.UTF8.GetBytes(top), cancellationToken);
        foreach (var field in headers.Fields)
        {
            if (remove.Count > 0 && Header.TryParse(field, 0, field.Length, out var parsed) && remove.Any(p => p(parsed))) continue;
            await write(field, cancellationToken);
        }
        var (body, owned) = await RewindOrReopenAsync(raw, envelope, cancellationToken);
        try
        {
            if (body.CanSeek)
            {
                body.Seek(headers.BodyOffset, SeekOrigin.Begin);
            }
            else
            {
                await SkipAsync(body, headers.BodyOffset, cancellationToken);
            }
            // Pooled: a fresh 64 KiB array per copy was zeroed by the runtime every time.
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken)) > 0) await write(buffer.AsMemory(0, n), cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        finally
        {
            if (owned) await body.DisposeAsync();
        }
    }

    private static async Task SkipAsync(Stream s, long count, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        while (count > 0)
        {
            var n = await s.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), cancellationToken);
            if (n == 0) throw new InvalidDataException("Message shorter than its header block");
            count -= n;
        }
    }

    /// <summary>A MimeKit header as "Field: value" with CRLF line endings (MimeKit folds with the platform newline).</summary>
    internal static string Format(Header h)
    {
        var value = Encoding.UTF8.GetString(h.RawValue).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        if (!value.EndsWith("\r\n", StringComparison.Ordinal)) value += "\r\n";
        if (value.Length > 0 && value[0] is not (' ' or '\t')) value = " " + value;
        return h.Field + ":" + value;
    }

    /// <summary>Envelope addresses come from the SMTP edge, which refuses control characters; this keeps a header
    /// injection impossible even if some other producer does not.</summary>
    private static string Clean(string s) => new(s.Where(c => !char.IsControl(c)).ToArray());
}
