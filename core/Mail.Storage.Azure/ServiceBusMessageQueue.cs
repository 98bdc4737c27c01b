using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Azure.Messaging.ServiceBus;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Storage.Azure;

/// <summary>
/// An <see cref="IMessageQueue"/> on an Azure Service Bus queue.
/// <list type="bullet">
/// <item>MessageId = the envelope's queue id, so the queue's duplicate detection drops a second send of the same envelope.</item>
/// <item>Trace context: the envelope's W3C traceparent is also put in ApplicationProperties "Diagnostic-Id" and
/// "traceparent", where Service Bus tooling and Application Insights look for it.</item>
/// <item>Scheduled send: <see cref="ServiceBusSender.ScheduleMessageAsync"/>.</item>
/// <item>Receive: PeekLock. The lock duration is a property of the Service Bus queue, not of a receive call, so the
/// <c>lockDuration</c> argument is not used (set LockDuration on the queue; infra uses 5 minutes).</item>
/// <item>Abandon with a delay: Service Bus cannot delay an abandoned message, so a copy is scheduled for later (with a
/// fresh MessageId "queueId~retryN" that duplicate detection lets through, and the delivery count carried over) and the
/// original is completed. A crash between the two delivers the envelope twice, which consumers tolerate (idempotent).</item>
/// <item>Dead letter: the native dead-letter subqueue with the reason.</item>
/// <item><see cref="ListAsync"/> peeks (waiting and scheduled messages; with a dead-letter receiver also the dead letters),
/// up to <see cref="ServiceBusQueueOptions.ListLimit"/> each; locked messages are still peeked and reported as Ready.</item>
/// </list>
/// The received message is needed to settle it, so leases are kept in memory until settled: settle a lease with the
/// same instance that received it.
/// </summary>
public sealed class ServiceBusMessageQueue : IMessageQueue
{
    public const string TraceParentProperty = "traceparent";
    public const string DiagnosticIdProperty = "Diagnostic-Id";
    public const string PreviousDeliveriesProperty = "mail-previous-deliveries";

    private readonly ServiceBusSender _sender;
    private readonly ServiceBusReceiver _receiver;
    private readonly ServiceBusReceiver? _deadLetterReceiver;
    private readonly ServiceBusQueueOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, ServiceBusReceivedMessage> _leases = new();

    public ServiceBusMessageQueue(ServiceBusSender sender, ServiceBusReceiver receiver, ServiceBusReceiver? deadLetterReceiver = null, ServiceBusQueueOptions? options = null, TimeProvider? time = null)
    {
        _sender = sender;
        _receiver = receiver;
        _deadLetterReceiver = deadLetterReceiver;
        _options = options ?? new ServiceBusQueueOptions();
        _time = time ?? TimeProvider.System;
    }

    public string Name => _receiver.EntityPath;

    public async Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default)
    {
        var message = ToMessage(envelope);
        if (notBefore is { } nb && nb > _time.GetUtcNow())
            await _sender.ScheduleMessageAsync(message, nb, cancellationToken);
        else
            await _sender.SendMessageAsync(message, cancellationToken);
    }

    /// <summary>The Service Bus message for an envelope (also used by tests and by the processor host).</summary>
    public static ServiceBusMessage ToMessage(Envelope envelope)
    {
        var message = new ServiceBusMessage(BinaryData.FromString(EnvelopeJson.Serialize(envelope)))
        {
            MessageId = envelope.QueueId,
            ContentType = "application/json",
            Subject = "envelope",
        };
        if (envelope.TraceParent is { } tp)
        {
            message.ApplicationProperties[TraceParentProperty] = tp;
            message.ApplicationProperties[DiagnosticIdProperty] = tp;
        }
        return message;
    }

    /// <summary>Reads the envelope of a received message; the trace context from the properties fills a missing TraceParent.</summary>
    public static Envelope FromMessage(ServiceBusReceivedMessage message)
    {
        var envelope = EnvelopeJson.Deserialize(message.Body.ToString());
        if (envelope.TraceParent is null
            && (message.ApplicationProperties.TryGetValue(TraceParentProperty, out var tp) || message.ApplicationProperties.TryGetValue(DiagnosticIdProperty, out tp))
            && tp is string s)
            envelope = envelope with { TraceParent = s };
        return envelope;
    }

    /// <summary>Delivery count including the deliveries of the copies this envelope descends from (see abandon).</summary>
    public static int DeliveryCount(ServiceBusReceivedMessage message) =>
        message.DeliveryCount + (message.ApplicationProperties.TryGetValue(PreviousDeliveriesProperty, out var p) && p is int n ? n : 0);

    public async Task<IReadOnlyList<QueueLease>> ReceiveAsync(int maxMessages, TimeSpan lockDuration, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        // Leases whose lock expired long ago can no longer be settled (Service Bus redelivers them): forget them.
        var stale = _time.GetUtcNow() - TimeSpan.FromMinutes(5);
        foreach (var (token, m) in _leases)
            if (m.LockedUntil != default && m.LockedUntil < stale) _leases.TryRemove(token, out _);
        var received = await _receiver.ReceiveMessagesAsync(maxMessages, _options.ReceiveWaitTime, cancellationToken);
        var leases = new List<QueueLease>(received.Count);
        foreach (var m in received)
        {
            Envelope envelope;
            try
            {
                envelope = FromMessage(m);
            }
            catch (JsonException e)
            {
                await _receiver.DeadLetterMessageAsync(m, "MalformedEnvelope", e.Message, cancellationToken);
                continue;
            }
            _leases[m.LockToken] = m;
            leases.Add(new QueueLease(envelope, DeliveryCount(m), m.LockToken));
        }
        return leases;
    }

    public async Task CompleteAsync(QueueLease lease, CancellationToken cancellationToken = default)
    {
        var m = Take(lease);
        await _receiver.CompleteMessageAsync(m, cancellationToken);
    }

    public async Task AbandonAsync(QueueLease lease, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        var m = Take(lease);
        if (delay <= TimeSpan.Zero)
        {
            await _receiver.AbandonMessageAsync(m, cancellationToken: cancellationToken);
            return;
        }
        var copy = new ServiceBusMessage(m)
        {
            MessageId = $"{lease.Envelope.QueueId}~retry{DeliveryCount(m)}",
        };
        copy.ApplicationProperties[PreviousDeliveriesProperty] = DeliveryCount(m);
        await _sender.ScheduleMessageAsync(copy, _time.GetUtcNow() + delay, cancellationToken);
        await _receiver.CompleteMessageAsync(m, cancellationToken);
    }

    public async Task DeadLetterAsync(QueueLease lease, string reason, CancellationToken cancellationToken = default)
    {
        var m = Take(lease);
        // DeadLetterReason is a short property (4 KiB at most); the description holds the full text.
        var shortReason = reason.Length > 1024 ? reason[..1024] : reason;
        await _receiver.DeadLetterMessageAsync(m, shortReason, reason, cancellationToken);
    }

    public async IAsyncEnumerable<QueueEntry> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var (m, _) in PeekAllAsync(_receiver, cancellationToken))
        {
            var scheduled = m.State == ServiceBusMessageState.Scheduled;
            yield return new QueueEntry(FromMessage(m), scheduled ? QueueEntryState.Scheduled : QueueEntryState.Ready,
                scheduled ? m.ScheduledEnqueueTime : null, DeliveryCount(m), null);
        }
        if (_deadLetterReceiver is null) yield break;
        await foreach (var (m, _) in PeekAllAsync(_deadLetterReceiver, cancellationToken))
            yield return new QueueEntry(FromMessage(m), QueueEntryState.DeadLettered, null, DeliveryCount(m), m.DeadLetterErrorDescription ?? m.DeadLetterReason);
    }

    private async IAsyncEnumerable<(ServiceBusReceivedMessage, int)> PeekAllAsync(ServiceBusReceiver receiver, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long? from = null;
        var seen = 0;
        while (seen < _options.ListLimit)
        {
            var batch = await receiver.PeekMessagesAsync(Math.Min(100, _options.ListLimit - seen), from, cancellationToken);
            if (batch.Count == 0) yield break;
            foreach (var m in batch)
            {
                yield return (m, seen++);
                from = m.SequenceNumber + 1;
            }
        }
    }

    private ServiceBusReceivedMessage Take(QueueLease lease) =>
        _leases.TryRemove(lease.LockToken, out var m)
            ? m
            : throw new InvalidOperationException($"Lease {lease.LockToken} was not received by this queue instance or is already settled.");
}

public sealed class ServiceBusQueueOptions
{
    /// <summary>How long a receive waits for a message before returning an empty list.</summary>
    public TimeSpan ReceiveWaitTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most messages <see cref="ServiceBusMessageQueue.ListAsync"/> peeks from the queue and from the dead-letter subqueue.</summary>
    public int ListLimit { get; set; } = 1000;
}
