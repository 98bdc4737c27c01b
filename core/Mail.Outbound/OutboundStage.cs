using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Mail.Core.Model;
using Mail.Core.Telemetry;
using Mail.Core.Text;
using Mail.Core.Ports;
using Mail.Core.Tracing;
using Mail.Outbound.Dsn;
using Mail.Outbound.Routing;
using Mail.Outbound.Smtp;
using Mail.Outbound.Tls.MtaSts;
using Mail.Outbound.Tls.Reporting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;

namespace Mail.Outbound;

/// <summary>Who "we" are to the outbound stage: the EHLO name, our own listening endpoints and domains (mail loops).</summary>
/// <param name="HostName">EHLO name and Reporting-MTA (Smtp:HostName).</param>
/// <param name="IsOwnEndpoint">True for an address and port this system listens on: an MX there is a loop.</param>
/// <param name="IsLocalDomain">True for a domain we receive mail for: such mail is never sent out.</param>
public sealed record OutboundIdentity(string HostName, Func<IPEndPoint, bool> IsOwnEndpoint, Func<string, CancellationToken, Task<bool>> IsLocalDomain);

/// <summary>What one run did with an envelope.</summary>
/// <param name="Envelope">The envelope with every recipient's updated state.</param>
/// <param name="Done">Every recipient is final (sent or bounced): the envelope and the original can go.</param>
/// <param name="NextAttemptAt">When the earliest deferred recipient is due (null when done).</param>
public sealed record OutboundResult(Envelope Envelope, bool Done, DateTimeOffset? NextAttemptAt);

/// <summary>A failure no retry can fix (the original message is gone): the envelope is set aside for an operator.</summary>
public sealed class PermanentOutboundException(string message) : Exception(message);

/// <summary>
/// The outbound stage, the same in both hostings: for each remote recipient not yet final, route its domain
/// (<see cref="Router"/>), deliver over SMTP (<see cref="SmtpDelivery"/>) with our DKIM signature (<see cref="IOutboundSigner"/>)
/// in front of the original bytes, and record the outcome per recipient: 2xx sent, 5xx bounced, 4xx or no answer
/// deferred with Postfix's doubling backoff until <see cref="OutboundOptions.MaximalQueueLifetime"/>. Bounces and
/// notices (RFC 3464) go to the envelope sender, never to the null sender. Idempotent: a final outcome is also
/// written to the state store (partition <see cref="FinalPartition"/>), so an envelope delivered twice (a crash between
/// re-queueing and completing, a redelivered inbound envelope) sends nothing twice to a recipient already final.
/// </summary>
public sealed class OutboundStage : IAsyncDisposable
{
    public const string FinalPartition = "outbound-final";

    private static readonly FormatOptions Dos = CreateDos();

    private static FormatOptions CreateDos()
    {
        var o = FormatOptions.Default.Clone();
        o.NewLineFormat = NewLineFormat.Dos;
        return o;
    }

    private readonly IMessageStore _messages;
    private readonly OutboundOptions _options;
    private readonly OutboundIdentity _identity;
    private readonly IOutboundSigner _signer;
    private readonly IStateStore? _state;
    private readonly Func<Envelope, CancellationToken, Task> _submitNotice;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly Router _router;
    private readonly SmtpDelivery _smtp;
    private readonly ConcurrentSlots _slots;
    private readonly TlsSessionResults? _tlsResults;
    private readonly FinalOutcomeWriter? _finals;
    private readonly TlsReportJob? _tlsReports;
    /// <summary>Each attempt and reply per recipient, for `mail trace` (given a state store).</summary>
    private readonly MessageTrail? _trail;

    /// <param name="submitNotice">Queues a DSN (null sender, one recipient: the original sender) the way inbound mail is
    /// handled without checks: into the sender's mailbox when local, else to the outbound queue.</param>
    public OutboundStage(IMessageStore messages, IDnsResolver dns, OutboundOptions options, OutboundIdentity identity, IOutboundSigner? signer,
        IStateStore? state, Func<Envelope, CancellationToken, Task> submitNotice, ILogger<OutboundStage>? logger = null, TimeProvider? time = null)
    {
        options.Validate();
        (_messages, _options, _identity, _signer, _state, _submitNotice) = (messages, options, identity, signer ?? NoOutboundSigner.Instance, state, submitNotice);
        _log = logger ?? NullLogger<OutboundStage>.Instance;
        _time = time ?? TimeProvider.System;
        var trust = TrustRoots.Load(options.TlsCaFile);
        // The policies (and their HTTPS client) live as long as this stage, like the router that holds them: one per process.
#pragma warning disable CA2000
        _router = new Router(dns, options, identity.HostName, identity.IsOwnEndpoint, new MtaStsPolicies(dns, state, options, trust, _log, _time));
#pragma warning restore CA2000
        _tlsResults = state is not null && options.TlsReporting.Enabled ? new TlsSessionResults(state, _time) : null;
        _smtp = new SmtpDelivery(options, identity.HostName, new MtaStsCertificates(trust, _log), _tlsResults);
        _tlsReports = _tlsResults is null ? null : new TlsReportJob(state!, dns, options.TlsReporting, identity.HostName, SubmitReportAsync, _log, _time);
        _slots = new ConcurrentSlots(options.DestinationConcurrency);
        // Kept a little longer than any envelope can live, so any duplicate finds it.
        _finals = state is null ? null : new FinalOutcomeWriter(state, () => _time.GetUtcNow() + _options.MaximalQueueLifetime + TimeSpan.FromDays(2));
        _trail = state is null ? null : new MessageTrail(state, time);
    }

    /// <summary>The span of one run of this stage over an envelope (<see cref="MessageRun"/>).</summary>
    public const string SpanName = "outbound.delivery";

    public async Task<OutboundResult> ProcessAsync(Envelope envelope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var started = _time.GetUtcNow();
        var recipients = envelope.Recipients.ToArray();
        var expires = envelope.ReceivedAt + _options.MaximalQueueLifetime;

        var (deleted, held) = await ReadRecordedAsync(envelope.QueueId, recipients, cancellationToken);
        if (deleted)
        {
            // Postfix postsuper -d: gone without a bounce.
            _log.LogInformation("{QueueId}: removed by an operator", envelope.QueueId);
            if (_trail is not null) await _trail.AppendAsync(envelope, TraceStep.Deleted, "removed from the outbound queue by an operator (no bounce)", cancellationToken: cancellationToken);
            return new OutboundResult(envelope, true, null);
        }
        if (envelope.Held || held)
        {
            for (var i = 0; i < recipients.Length; i++)
                if (!recipients[i].Status.IsFinal()) recipients[i] = recipients[i] with { Delivery = (recipients[i].Delivery ?? Fresh(expires)) with { Status = RecipientStatus.Held, NextAttemptAt = null } };
            return Result(envelope, recipients);
        }

        var due = Enumerable.Range(0, recipients.Length).Where(i => !recipients[i].Status.IsFinal()).ToList();
        if (due.Count == 0) return Result(envelope, recipients);

        var opened = await _messages.OpenReadAsync(envelope.MessageRef, cancellationToken)
            ?? throw new PermanentOutboundException($"Message {envelope.MessageRef} of {envelope.QueueId} is not in the message store; {due.Count} recipient(s) cannot be delivered");
        await using var original = await SeekableAsync(opened, cancellationToken);

        var notices = new List<DsnRecipient>();
        // One read of the stored header section for the whole run: the hop count, the signer and the sending all use it.
        var message = await OutgoingMessage.ReadAsync(original, cancellationToken);
        var hops = message.Header.CountOf("Received");
        await message.SignAsync(_signer, cancellationToken);

        // One attempt per destination domain, at the same time, each within its domain's concurrency limit.
        var byDomain = due.GroupBy(i => DomainOf(recipients[i].Address), StringComparer.OrdinalIgnoreCase).ToList();
        var attempts = byDomain.Select(async group =>
        {
            var indexes = group.ToList();
            var subset = indexes.Select(i => recipients[i]).ToList();
            var (replies, relayed, timing) = await AttemptAsync(envelope, group.Key, subset, hops, message, original, shared: byDomain.Count == 1, cancellationToken);
            return (indexes, replies, relayed, timing);
        }).ToList();
        // Final outcomes of this run, written together after every attempt (one transaction, one sync, shared with the
        // runs finishing at the same time: FinalOutcomeWriter) rather than one write per recipient. Until then a crash
        // repeats the run, which is what happens to a crash before any write.
        var finals = new Dictionary<string, string>(StringComparer.Ordinal);
        var steps = new List<TraceEvent>();
        foreach (var (indexes, replies, _, timing) in await Task.WhenAll(attempts))
        {
            var now = _time.GetUtcNow();
            for (var k = 0; k < indexes.Count; k++)
            {
                var i = indexes[k];
                var r = recipients[i];
                var reply = replies[k].Reply;
                var previous = r.Delivery ?? Fresh(expires);
                var tries = previous.Attempts + 1;
                string status;
                RecipientDelivery next;
                if (reply.IsSuccess())
                {
                    next = previous with { Status = RecipientStatus.Sent, Attempts = tries, NextAttemptAt = null, LastReply = reply };
                    status = "sent";
                    if (Wants(r, DsnNotify.Success)) notices.Add(new DsnRecipient(r, DsnAction.Relayed, reply));
                }
                else if (reply.IsPermanent())
                {
                    next = previous with { Status = RecipientStatus.Bounced, Attempts = tries, NextAttemptAt = null, LastReply = reply };
                    status = "bounced";
                    if (WantsFailure(r)) notices.Add(new DsnRecipient(r, DsnAction.Failed, reply));
                }
                else if (now >= previous.ExpiresAt)
                {
                    // Postfix: "status=expired, returned to sender"; the DSN keeps the last temporary reason.
                    next = previous with { Status = RecipientStatus.Bounced, Attempts = tries, NextAttemptAt = null, LastReply = reply };
                    status = "expired";
                    if (WantsFailure(r)) notices.Add(new DsnRecipient(r, DsnAction.Failed, reply with { EnhancedCode = "4.4.7", Text = "delivery time expired; last error: " + reply.Text }));
                }
                else
                {
                    var at = now + _options.Backoff(tries);
                    if (at > previous.ExpiresAt) at = previous.ExpiresAt;
                    next = previous with { Status = RecipientStatus.Deferred, Attempts = tries, NextAttemptAt = at, LastReply = reply };
                    status = "deferred";
                    if (_options.DelayWarningTime > TimeSpan.Zero && !previous.DelayNotified && now - envelope.ReceivedAt >= _options.DelayWarningTime && Wants(r, DsnNotify.Delay, byDefault: true))
                    {
                        next = next with { DelayNotified = true };
                        notices.Add(new DsnRecipient(r with { Delivery = next }, DsnAction.Delayed, reply));
                    }
                }
                recipients[i] = r with { Delivery = next };
                MailTelemetry.Delivery(status);
                steps.Add(new TraceEvent(now, TraceStep.Attempt, $"{status}{(next.NextAttemptAt is { } nextAt ? " until " + nextAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "")}, "
                    + $"attempt {tries}: {(reply.Code == 0 ? "" : reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ")}{reply.EnhancedCode} {reply.Text}{(reply.Host is { } rh ? $" (from {rh}{(reply.Address is { } ra ? " [" + ra + "]" : "")})" : "")}", r.Address));
                DeliveryLog.Write(_log, DeliveryLog.Line(envelope.QueueId, r, reply, status, now - envelope.ReceivedAt, started - envelope.ReceivedAt, timing.Waited, timing.Routing, timing.Smtp));
                if (next.IsFinal && _state is not null) finals[FinalKey(envelope.QueueId, r)] = JsonSerializer.Serialize(next, OutboundJsonContext.Default.RecipientDelivery);
            }
        }
        // The final outcomes and the trail's steps are written together: with SQLite both join the same group commit
        // (one transaction, one sync for this run and the others finishing now) instead of two commits in turn. Both
        // are durable before the run returns and the envelope is settled, as when they were written one after the other.
        var writes = new List<Task>(2);
        if (finals.Count > 0 && _finals is not null) writes.Add(_finals.WriteAsync(finals.ToList()));
        if (_trail is not null) writes.Add(_trail.AppendAsync(envelope, steps, cancellationToken));
        await Task.WhenAll(writes);
        if (notices.Count > 0) await SendNoticeAsync(envelope, notices, original, cancellationToken);
        return Result(envelope, recipients);
    }

    /// <summary>Deletes the original once the envelope is done (every recipient final), in both hostings.</summary>
    public Task DeleteOriginalAsync(Envelope envelope, CancellationToken cancellationToken = default) => _messages.DeleteAsync(envelope.MessageRef, cancellationToken);

    /// <summary>Stores the TLS-RPT session counts gathered since the last call (state store, partition tls-rpt).</summary>
    public Task FlushTlsResultsAsync(CancellationToken cancellationToken = default) => _tlsResults?.FlushAsync(cancellationToken) ?? Task.CompletedTask;

    /// <summary>Sends the TLS-RPT reports of finished days (RFC 8460); the number sent.</summary>
    public async Task<int> SendTlsReportsAsync(CancellationToken cancellationToken = default)
    {
        if (_tlsReports is null) return 0;
        await FlushTlsResultsAsync(cancellationToken);
        return await _tlsReports.RunAsync(cancellationToken);
    }

    /// <summary>Closes idle connections kept for reuse.</summary>
    public Task TrimConnectionsAsync() => _smtp.TrimAsync();

    /// <summary>Closes the pooled SMTP connections; the host calls it after the outbound worker has stopped.</summary>
    public ValueTask DisposeAsync() => _smtp.DisposeAsync();

    private async Task<(IReadOnlyList<RecipientReply> Replies, bool Relay, Timing Timing)> AttemptAsync(Envelope envelope, string domain, List<Recipient> subset, int hops,
        OutgoingMessage message, Stream original, bool shared, CancellationToken cancellationToken)
    {
        List<RecipientReply> All(RemoteReply reply) => subset.Select(r => new RecipientReply(r, reply)).ToList();
        if (hops > _options.HopCountLimit)
            return (All(new RemoteReply(554, "5.4.6", $"mail forwarding loop: too many hops ({hops} Received: header fields; Outbound:HopCountLimit is {_options.HopCountLimit})")), false, default);
        if (await _identity.IsLocalDomain(domain, cancellationToken))
            return (All(new RemoteReply(554, "5.4.6", $"mail for {domain} loops back to myself (a local domain is never delivered by SMTP)")), false, default);

        var clock = Stopwatch.StartNew();
        using var slot = await _slots.EnterAsync(domain, cancellationToken);
        var waited = clock.Elapsed;
        var route = await _router.RouteAsync(domain, cancellationToken);
        var routing = clock.Elapsed - waited;
        if (route.Outcome != RouteOutcome.Deliver) return (All(route.Failure!), false, new Timing(waited, routing, TimeSpan.Zero));
        // Attempts to several domains run at once, each reading its own copy; a single destination reads the original.
        var copy = shared ? null : await CopyAsync(original, cancellationToken);
        try
        {
            // The copy's view shares the header section with `message` and reads `copy`, which the finally disposes.
            var own = copy is null ? message : message.WithBody(copy);
            var replies = await _smtp.DeliverAsync(route, envelope, subset, () => own, cancellationToken);
            return (replies, route.Relay, new Timing(waited, routing, clock.Elapsed - waited - routing));
        }
        finally
        {
            if (copy is not null) await copy.DisposeAsync();
        }
    }

    private readonly record struct Timing(TimeSpan Waited, TimeSpan Routing, TimeSpan Smtp);

    private static readonly SemaphoreSlim s_copyGate = new(1, 1);

    /// <summary>A private read view of the original (concurrent attempts for several domains each need their own position).</summary>
    private static async Task<Stream> CopyAsync(Stream original, CancellationToken cancellationToken)
    {
        if (original is MemoryStream ms && ms.TryGetBuffer(out var buffer)) return new MemoryStream(buffer.Array!, buffer.Offset, buffer.Count, writable: false);
        await s_copyGate.WaitAsync(cancellationToken);
        try
        {
            original.Position = 0;
            var copy = new MemoryStream();
            await original.CopyToAsync(copy, cancellationToken);
            copy.Position = 0;
            return copy;
        }
        finally
        {
            s_copyGate.Release();
        }
    }

    /// <summary>The store's stream when it can seek, else the message read into memory (blobs over some transports).</summary>
    private static async Task<Stream> SeekableAsync(Stream opened, CancellationToken cancellationToken)
    {
        if (opened.CanSeek) return opened;
        var copy = new MemoryStream();
        await using (opened) await opened.CopyToAsync(copy, cancellationToken);
        copy.Position = 0;
        return copy;
    }

    private async Task SendNoticeAsync(Envelope envelope, List<DsnRecipient> notices, Stream original, CancellationToken cancellationToken)
    {
        // Never a bounce to the null sender: that is how a bounce of a bounce (and its loop) is avoided (RFC 5321 4.5.5).
        if (envelope.IsNullSender) return;
        var now = _time.GetUtcNow();
        using var notice = DeliveryStatusNotice.Build(envelope, notices, original, _identity.HostName, now);
        var key = string.Join('|', notices.Select(n => n.Action + ":" + n.Recipient.Address));
        var id = $"{envelope.QueueId}-dsn-{Sha256Hex.Of(key, 12)}";
        var bytes = new MemoryStream();
        await notice.WriteToAsync(Dos, bytes, cancellationToken);
        await QueueOwnAsync(id, "", envelope.MailFrom, bytes.ToArray(), envelope.TraceParent, cancellationToken);
        _log.LogInformation("{QueueId}: sender delivery status notification: {NoticeId} ({Actions})", envelope.QueueId, id, key);
        if (_trail is not null) await _trail.AppendAsync(envelope, TraceStep.Notice, $"delivery status notification {id} to <{envelope.MailFrom}> ({key})", cancellationToken: cancellationToken);
    }

    /// <summary>A TLS-RPT report by mail (RFC 8460 5.3), queued like a notice: outbound for a remote rua, signed there.</summary>
    private Task SubmitReportAsync(string from, string to, byte[] message, CancellationToken cancellationToken) =>
        QueueOwnAsync($"tlsrpt-{Convert.ToHexStringLower(SHA256.HashData(message))[..16]}", from, to, message, null, cancellationToken);

    /// <summary>Stores a message this system wrote (kept if already stored under that id: a repeated run adds no copy) and
    /// hands it to the inbound stage without checks: a local recipient's mailbox, else the outbound queue.</summary>
    private async Task QueueOwnAsync(string id, string from, string to, byte[] message, string? traceParent, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        long size;
        if (!await _messages.ExistsAsync(id, cancellationToken))
        {
            await using var writer = await _messages.CreateAsync(id, cancellationToken);
            await writer.WriteAsync(message, cancellationToken);
            size = (await writer.CommitAsync(cancellationToken)).Size;
        }
        else
        {
            await using var existing = await _messages.OpenReadAsync(id, cancellationToken);
            size = existing?.Length ?? 0;
        }
        var queued = new Envelope
        {
            QueueId = id,
            MessageRef = id,
            ReceivedAt = now,
            Size = size,
            Client = new ClientInfo { Address = "127.0.0.1", Helo = _identity.HostName, Protocol = "local", Listener = "bounce" },
            MailFrom = from,
            Recipients = [new Recipient { Address = to }],
            TraceParent = traceParent,
        };
        await _submitNotice(queued, cancellationToken);
    }

    private static bool Wants(Recipient r, DsnNotify what, bool byDefault = false) => r.Notify.Wants(what, byDefault);

    /// <summary>RFC 3461 4.1: without NOTIFY a failure is reported; NOTIFY=NEVER or a list without FAILURE reports none.</summary>
    private static bool WantsFailure(Recipient r) => Wants(r, DsnNotify.Failure, byDefault: true);

    private RecipientDelivery Fresh(DateTimeOffset expires) => new(RecipientStatus.Pending, 0, null, expires, null);

    private static OutboundResult Result(Envelope envelope, Recipient[] recipients)
    {
        var updated = envelope with { Recipients = recipients, FormatVersion = Envelope.CurrentFormatVersion };
        var done = recipients.All(r => r.Status.IsFinal());
        var next = done ? null : recipients.Where(r => !r.Status.IsFinal()).Select(r => r.Delivery?.NextAttemptAt).Min();
        return new OutboundResult(updated, done, next);
    }

    /// <summary>
    /// One read of what earlier runs and operators decided: the outcomes already recorded for the open recipients (by
    /// an earlier run of this envelope or a duplicate of it; they stand, and are put into <paramref name="recipients"/>),
    /// and whether an operator deleted or held the envelope (<see cref="QueueControl"/>).
    /// </summary>
    private async Task<(bool Deleted, bool Held)> ReadRecordedAsync(string queueId, Recipient[] recipients, CancellationToken cancellationToken)
    {
        if (_state is null) return (false, false);
        var open = Enumerable.Range(0, recipients.Length).Where(i => !recipients[i].Status.IsFinal()).ToList();
        var keys = open.Select(i => (FinalPartition, FinalKey(queueId, recipients[i]))).ToList();
        keys.Add(QueueControl.DeleteMark(queueId));
        keys.Add(QueueControl.HoldMark(queueId));
        var found = await _state.GetManyAsync(keys, cancellationToken);
        for (var j = 0; j < open.Count; j++)
            if (found[j] is { } entry && JsonSerializer.Deserialize(entry.Value, OutboundJsonContext.Default.RecipientDelivery) is { } recorded)
                recipients[open[j]] = recipients[open[j]] with { Delivery = recorded };
        return (found[^2] is not null, found[^1] is not null);
    }

    private static string FinalKey(string queueId, Recipient r) => queueId + "/" + r.Address.ToLowerInvariant();

    internal static string DomainOf(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? address : address[(at + 1)..].ToLowerInvariant();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(RecipientDelivery))]
internal sealed partial class OutboundJsonContext : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>At most N deliveries at a time per destination domain, so one slow domain cannot take every worker.</summary>
internal sealed class ConcurrentSlots(int perKey)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.OrdinalIgnoreCase);

    public async Task<IDisposable> EnterAsync(string key, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(key, _ => new SemaphoreSlim(perKey, perKey));
        await gate.WaitAsync(cancellationToken);
        return new Exit(gate);
    }

    private sealed class Exit(SemaphoreSlim gate) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) gate.Release();
        }
    }
}
