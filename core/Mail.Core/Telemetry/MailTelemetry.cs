using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mail.Core.Telemetry;

/// <summary>
/// The one place that names the system's telemetry: the activity sources (spans) and the meter "Mail" with its
/// instruments. Hosts subscribe by these names (<see cref="SourceNames"/>, <see cref="MeterName"/>); with nobody
/// listening, a span is not even created (<see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns
/// null) and an instrument's Add is a check of one flag. Tags are fixed low-cardinality words, never addresses or ids.
/// docs/observability.md lists every name.
/// </summary>
public static class MailTelemetry
{
    public const string MeterName = "Mail";

    /// <summary>The edge: <c>smtp.transaction</c> spans.</summary>
    public static readonly ActivitySource Smtp = new("Mail.Smtp");

    /// <summary>The inbound stage: <c>inbound.stage</c> with <c>inbound.check</c> and <c>mailbox.write</c> children.</summary>
    public static readonly ActivitySource Inbound = new("Mail.Inbound");

    /// <summary>The outbound stage: <c>outbound.delivery</c>.</summary>
    public static readonly ActivitySource Outbound = new("Mail.Outbound");

    public static readonly IReadOnlyList<string> SourceNames = [Smtp.Name, Inbound.Name, Outbound.Name];

    public static readonly Meter Meter = new(MeterName);

    /// <summary>SMTP connections accepted by the edge's listeners (after the connection limits).</summary>
    public static readonly Counter<long> Connections = Meter.CreateCounter<long>("mail.smtp.connections", "{connection}", "SMTP connections accepted");

    /// <summary>Messages the edge answered 250 at the end of data (stored and queued).</summary>
    public static readonly Counter<long> Accepted = Meter.CreateCounter<long>("mail.smtp.messages.accepted", "{message}", "Messages accepted (250 after DATA/BDAT)");

    /// <summary>Refusals of MAIL, RCPT or a message's data, by <see cref="RejectReason"/>.</summary>
    public static readonly Counter<long> Rejected = Meter.CreateCounter<long>("mail.smtp.messages.rejected", "{rejection}", "SMTP refusals of a sender, recipient or message, by reason");

    /// <summary>Results of the inbound checks: check = spf, dkim, dmarc, arc, auth, disposition; result = the token.</summary>
    public static readonly Counter<long> CheckResults = Meter.CreateCounter<long>("mail.checks.results", "{result}", "Inbound check results");

    /// <summary>Outbound delivery attempts per recipient by status (sent, deferred, bounced, expired): the delivery log's status=.</summary>
    public static readonly Counter<long> DeliveryResults = Meter.CreateCounter<long>("mail.delivery.results", "{recipient}", "Outbound delivery attempts per recipient, by status");

    /// <summary>Transactions the edge paused before their first recipient's reply because the inbound backlog was over
    /// Smtp:InFlowBacklog (<see cref="Queues.InFlowControl"/>), by outcome: released (the worker took an envelope) or
    /// timeout (Smtp:InFlowDelay passed).</summary>
    public static readonly Counter<long> InFlowDelayed = Meter.CreateCounter<long>("mail.smtp.transactions.delayed", "{transaction}",
        "SMTP transactions paused by in-flow control (inbound backlog over Smtp:InFlowBacklog), by outcome");

    /// <summary>How long a stage took for one message: stage = smtp.transaction, inbound, outbound.</summary>
    public static readonly Histogram<double> StageDuration = Meter.CreateHistogram<double>("mail.stage.duration", "s", "Time one message spent in a stage");

    private static readonly ConcurrentDictionary<string, QueueSample> s_queues = new(StringComparer.Ordinal);
    private static readonly ObservableGauge<long> s_depth;

    /// <summary>Whether a meter provider reads the queue gauges: only then is it worth listing the queues for them.</summary>
    public static bool QueuesObserved => s_depth.Enabled;

    static MailTelemetry()
    {
        s_depth = Meter.CreateObservableGauge("mail.queue.depth", () => s_queues.Select(q => new Measurement<long>(q.Value.Depth, new KeyValuePair<string, object?>("queue", q.Key))),
            "{envelope}", "Envelopes in a queue (ready, scheduled, in flight; not dead-lettered)");
        Meter.CreateObservableGauge("mail.queue.oldest_age", () => s_queues.Select(q => new Measurement<double>(q.Value.OldestAge, new KeyValuePair<string, object?>("queue", q.Key))),
            "s", "Age of the oldest envelope in a queue (since the edge received it)");
        Meter.CreateObservableGauge("mail.queue.dead", () => s_queues.Select(q => new Measurement<long>(q.Value.Dead, new KeyValuePair<string, object?>("queue", q.Key))),
            "{envelope}", "Dead-lettered envelopes in a queue");
    }

    /// <summary>The latest sample of a queue (taken by <see cref="Queues.QueueGauges"/>), reported by the queue gauges.</summary>
    public static void ReportQueue(string queue, long depth, long dead, double oldestAgeSeconds) => s_queues[queue] = new QueueSample(depth, dead, oldestAgeSeconds);

    /// <summary>Counts a refusal by reason, and tells the in-process observers (<see cref="ObserveRejections"/>) who was
    /// refused: the client address and the MAIL FROM (null when not given yet; "" is the null sender). Those two are
    /// never tags of the counter: addresses are not low-cardinality.</summary>
    public static void Reject(string reason, System.Net.IPAddress? client = null, string? sender = null)
    {
        Rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));
        var observers = Volatile.Read(ref s_rejectionObservers);
        if (observers.Length == 0) return;
        var rejection = new Rejection(reason, client, sender);
        foreach (var o in observers) o(rejection);
    }

    private static Action<Rejection>[] s_rejectionObservers = [];

    /// <summary>Calls <paramref name="observer"/> for every refusal until the result is disposed (the console's top
    /// rejected clients and senders). The observer runs on the SMTP session's thread: it must be quick and not throw.</summary>
    public static IDisposable ObserveRejections(Action<Rejection> observer)
    {
        Action<Rejection>[] now, next;
        do
        {
            now = Volatile.Read(ref s_rejectionObservers);
            next = [.. now, observer];
        } while (Interlocked.CompareExchange(ref s_rejectionObservers, next, now) != now);
        return new Unsubscriber(observer);
    }

    private sealed class Unsubscriber(Action<Rejection> observer) : IDisposable
    {
        public void Dispose()
        {
            Action<Rejection>[] now, next;
            do
            {
                now = Volatile.Read(ref s_rejectionObservers);
                next = [.. now.Where(o => o != observer)];
            } while (Interlocked.CompareExchange(ref s_rejectionObservers, next, now) != now);
        }
    }

    public static void CheckResult(string check, string result) =>
        CheckResults.Add(1, new KeyValuePair<string, object?>("check", check), new KeyValuePair<string, object?>("result", result));

    public static void InFlow(string outcome) => InFlowDelayed.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public static void Delivery(string status) => DeliveryResults.Add(1, new KeyValuePair<string, object?>("status", status));

    public static void Stage(string stage, TimeSpan elapsed) => StageDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("stage", stage));

    /// <summary>
    /// Starts a stage's span as the child of the W3C traceparent the edge put in the envelope, so one message is one
    /// trace however many queues and hosts it crossed. Without a valid traceparent the span starts a trace of its own;
    /// with nobody listening it is null. The embedded workers and the Functions triggers all start their spans here.
    /// </summary>
    public static Activity? ContinueTrace(ActivitySource source, string name, string? traceParent, string queueId, ActivityKind kind = ActivityKind.Consumer)
    {
        if (!source.HasListeners()) return null;
        var parent = traceParent is not null && ActivityContext.TryParse(traceParent, null, isRemote: true, out var context) ? context : default;
        var activity = source.StartActivity(name, kind, parent);
        activity?.SetTag("mail.queue_id", queueId);
        return activity;
    }

    private sealed record QueueSample(long Depth, long Dead, double OldestAge);
}

/// <summary>One refusal as <see cref="MailTelemetry.ObserveRejections"/> reports it.</summary>
/// <param name="Reason">A <see cref="RejectReason"/> word.</param>
/// <param name="Client">The client's address (the one the PROXY header relayed, where one did).</param>
/// <param name="Sender">The MAIL FROM of the transaction ("" for the null sender), or null before MAIL.</param>
public readonly record struct Rejection(string Reason, System.Net.IPAddress? Client, string? Sender);

/// <summary>The reason tag of <see cref="MailTelemetry.Rejected"/>: a fixed vocabulary, one word per kind of refusal.</summary>
public static class RejectReason
{
    public const string Connection = "connection_limit"; // 421 at connect: too many connections (or shutting down)
    public const string Sender = "sender";             // MAIL FROM refused: syntax, not owned by the authenticated user
    public const string RateLimit = "rate_limit";      // anvil-style rate limits
    public const string Policy = "policy";             // a restriction list, DNSBL, greylisting, policy service verdict
    public const string Relay = "relay";               // relay access denied
    public const string UnknownRecipient = "unknown_recipient";
    public const string Recipients = "too_many_recipients";
    public const string Quota = "quota";               // mailbox full, or the message does not fit
    public const string Size = "size";                 // over the maximum message size
    public const string Content = "content";           // bare CR/LF, line too long, no valid recipients at DATA
    public const string LocalError = "local_error";    // 451: the store or queue failed
}

/// <summary>
/// One message's run through a stage, the same in every hosting (the embedded workers, the Functions triggers): the
/// stage's span continuing the envelope's trace (<see cref="MailTelemetry.ContinueTrace"/>), a log scope with the
/// queue id (so every line the stage writes for this message carries it), and on dispose the stage's duration in
/// <c>mail.stage.duration</c>.
/// </summary>
public readonly struct MessageRun : IDisposable
{
    private readonly IDisposable? _scope;
    private readonly long _started;
    private readonly string _stage;

    private MessageRun(Activity? activity, IDisposable? scope, string stage)
    {
        Activity = activity;
        _scope = scope;
        _stage = stage;
        _started = Stopwatch.GetTimestamp();
    }

    /// <summary>The stage's span; null with nobody listening.</summary>
    public Activity? Activity { get; }

    /// <param name="stage">The stage tag of <c>mail.stage.duration</c>: inbound or outbound.</param>
    /// <param name="spanName">inbound.stage or outbound.delivery.</param>
    public static MessageRun Begin(Microsoft.Extensions.Logging.ILogger log, ActivitySource source, string stage, string spanName, Model.Envelope envelope)
    {
        var activity = MailTelemetry.ContinueTrace(source, spanName, envelope.TraceParent, envelope.QueueId);
        var scope = Microsoft.Extensions.Logging.LoggerExtensions.BeginScope(log, "QueueId {QueueId}", envelope.QueueId);
        return new MessageRun(activity, scope, stage);
    }

    /// <summary>Marks the span failed (the run threw, or the envelope was set aside).</summary>
    public void Fail(string description) => Activity?.SetStatus(ActivityStatusCode.Error, description);

    public void Dispose()
    {
        if (_stage is null) return;
        MailTelemetry.Stage(_stage, Stopwatch.GetElapsedTime(_started));
        _scope?.Dispose();
        Activity?.Dispose();
    }
}
