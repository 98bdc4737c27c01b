using System.Runtime.CompilerServices;
using System.Text.Json;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Azure.Storage.Queues.Specialized;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Threading;

namespace Mail.Storage.Azure;

/// <summary>
/// An <see cref="IMessageQueue"/> on Azure Storage Queues, the transport the Functions app triggers on.
/// <list type="bullet">
/// <item>Body: the envelope as JSON text (<see cref="EnvelopeJson"/>), never the message itself (claim-check), so the
/// 64 KiB queue message limit cannot be hit by a large mail. Send it unencoded: the Functions host is configured with
/// <c>messageEncoding: none</c> (host.json).</item>
/// <item>Scheduled send: the visibility timeout, which the service caps at 7 days; a later <c>notBefore</c> travels in
/// the body and a receiver that sees it too early hides it again.</item>
/// <item>Lock: the visibility timeout of the receive; the lease token is "messageId|popReceipt".</item>
/// <item>Dead letter: a copy with <c>deadLetterReason</c> is sent to "&lt;name&gt;-poison" (the queue the Functions host
/// also moves poison messages to) and only then is the original deleted, so nothing is lost between the two.</item>
/// <item><see cref="ListAsync"/> is best effort: Storage Queues can only peek (up to 32) visible messages, so envelopes
/// in flight or scheduled are not listed.</item>
/// </list>
/// </summary>
public sealed class StorageQueueMessageQueue : ITriggeredQueue
{
    /// <summary>The longest visibility timeout the service accepts.</summary>
    public static readonly TimeSpan MaxVisibility = TimeSpan.FromDays(7);

    private const int PeekLimit = 32;
    private readonly QueueClient _queue;
    private readonly QueueClient _deadLetter;
    private readonly TimeProvider _time;
    private readonly CreateOnce _created;

    public StorageQueueMessageQueue(QueueClient queue, QueueClient? deadLetterQueue = null, TimeProvider? time = null)
    {
        _queue = queue;
        _deadLetter = deadLetterQueue ?? queue.GetParentQueueServiceClient().GetQueueClient(queue.Name + "-poison");
        _time = time ?? TimeProvider.System;
        _created = new CreateOnce(async ct =>
        {
            await _queue.CreateIfNotExistsAsync(cancellationToken: ct);
            await _deadLetter.CreateIfNotExistsAsync(cancellationToken: ct);
        });
    }

    public string Name => _queue.Name;

    public QueueClient Queue => _queue;

    public QueueClient DeadLetterQueue => _deadLetter;

    public async Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var delay = notBefore is { } nb ? nb - _time.GetUtcNow() : TimeSpan.Zero;
        var text = delay > MaxVisibility
            ? EnvelopeJson.Serialize(envelope, [new(EnvelopeJson.NotBeforeProperty, notBefore!.Value.ToString("O"))])
            : EnvelopeJson.Serialize(envelope);
        // timeToLive -1: never expire (the default of 7 days would silently drop a message nobody processed).
        await _queue.SendMessageAsync(text, Clamp(delay), TimeSpan.FromSeconds(-1), cancellationToken);
    }

    public async Task<IReadOnlyList<QueueLease>> ReceiveAsync(int maxMessages, TimeSpan lockDuration, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        await _created.EnsureAsync(cancellationToken);
        var received = (await _queue.ReceiveMessagesAsync(Math.Min(maxMessages, 32), Clamp(lockDuration, TimeSpan.FromSeconds(1)), cancellationToken)).Value;
        var leases = new List<QueueLease>(received.Length);
        foreach (var m in received)
        {
            if (!TryParse(m.MessageText, out var envelope, out var notBefore, out _))
            {
                // Not an envelope: set it aside with the reason rather than retrying it forever or dropping it.
                await SendRawToDeadLetterAsync(m.MessageText, "Malformed envelope (not the JSON of an Envelope)", cancellationToken);
                await _queue.DeleteMessageAsync(m.MessageId, m.PopReceipt, cancellationToken);
                continue;
            }
            var early = notBefore is { } nb ? nb - _time.GetUtcNow() : TimeSpan.Zero;
            if (early > TimeSpan.Zero)
            {
                await _queue.UpdateMessageAsync(m.MessageId, m.PopReceipt, m.MessageText, Clamp(early), cancellationToken);
                continue;
            }
            leases.Add(new QueueLease(envelope, (int)m.DequeueCount, Token(m.MessageId, m.PopReceipt)));
        }
        return leases;
    }

    public async Task CompleteAsync(QueueLease lease, CancellationToken cancellationToken = default)
    {
        var (id, receipt) = Untoken(lease.LockToken);
        await _queue.DeleteMessageAsync(id, receipt, cancellationToken);
    }

    public async Task AbandonAsync(QueueLease lease, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        var (id, receipt) = Untoken(lease.LockToken);
        await _queue.UpdateMessageAsync(id, receipt, EnvelopeJson.Serialize(lease.Envelope), Clamp(delay), cancellationToken);
    }

    public async Task DeadLetterAsync(QueueLease lease, string reason, CancellationToken cancellationToken = default)
    {
        var (id, receipt) = Untoken(lease.LockToken);
        await SendToDeadLetterAsync(lease.Envelope, reason, cancellationToken);
        await _queue.DeleteMessageAsync(id, receipt, cancellationToken);
    }

    /// <summary>
    /// Puts an envelope on the dead-letter queue with a reason. For consumers that got the message from the Functions
    /// trigger (which deletes it when the function returns) rather than from <see cref="ReceiveAsync"/>.
    /// </summary>
    public async Task SendToDeadLetterAsync(Envelope envelope, string reason, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var text = EnvelopeJson.Serialize(envelope, [new(EnvelopeJson.DeadLetterReasonProperty, reason), new("deadLetteredAt", _time.GetUtcNow().ToString("O"))]);
        await _deadLetter.SendMessageAsync(text, null, TimeSpan.FromSeconds(-1), cancellationToken);
    }

    /// <summary>Sets aside a body that is not an envelope, as <c>{"raw": text, "deadLetterReason": reason}</c>.</summary>
    public async Task SendRawToDeadLetterAsync(string messageText, string reason, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var text = JsonSerializer.Serialize(new Dictionary<string, string> { ["raw"] = messageText, [EnvelopeJson.DeadLetterReasonProperty] = reason }, RawDeadLetterJsonContext.Default.DictionaryStringString);
        await _deadLetter.SendMessageAsync(text, null, TimeSpan.FromSeconds(-1), cancellationToken);
    }

    public async IAsyncEnumerable<QueueEntry> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        foreach (var m in (await _queue.PeekMessagesAsync(PeekLimit, cancellationToken)).Value)
        {
            if (!TryParse(m.MessageText, out var envelope, out var notBefore, out _)) continue;
            var scheduled = notBefore > _time.GetUtcNow();
            yield return new QueueEntry(envelope, scheduled ? QueueEntryState.Scheduled : QueueEntryState.Ready, scheduled ? notBefore : null, (int)m.DequeueCount, null);
        }
        foreach (var m in (await _deadLetter.PeekMessagesAsync(PeekLimit, cancellationToken)).Value)
        {
            if (!TryParse(m.MessageText, out var envelope, out _, out var reason)) continue;
            yield return new QueueEntry(envelope, QueueEntryState.DeadLettered, null, (int)m.DequeueCount, reason ?? "moved to the poison queue by the Functions host");
        }
    }

    /// <summary>Reads a queue message body written by this adapter (the Functions triggers use this too).</summary>
    public static (Envelope Envelope, DateTimeOffset? NotBefore) Parse(string messageText)
    {
        var (envelope, property) = EnvelopeJson.DeserializeWithProperties(messageText);
        var nb = property(EnvelopeJson.NotBeforeProperty);
        return (envelope, nb is null ? null : DateTimeOffset.Parse(nb, System.Globalization.CultureInfo.InvariantCulture));
    }

    bool ITriggeredQueue.TryRead(string messageText, out Envelope envelope, out DateTimeOffset? notBefore, out string? deadLetterReason) =>
        TryParse(messageText, out envelope, out notBefore, out deadLetterReason);

    /// <summary>Reads a dead-lettered body: the envelope and the reason (null when the Functions host moved it).</summary>
    public static bool TryParse(string messageText, out Envelope envelope, out DateTimeOffset? notBefore, out string? deadLetterReason)
    {
        try
        {
            var (e, property) = EnvelopeJson.DeserializeWithProperties(messageText);
            envelope = e;
            var nb = property(EnvelopeJson.NotBeforeProperty);
            notBefore = nb is null ? null : DateTimeOffset.Parse(nb, System.Globalization.CultureInfo.InvariantCulture);
            deadLetterReason = property(EnvelopeJson.DeadLetterReasonProperty);
            return true;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            envelope = null!;
            notBefore = null;
            deadLetterReason = null;
            return false;
        }
    }

    /// <summary>The service counts visibility in whole seconds and the SDK truncates: round up, so "not before" holds.</summary>
    private static TimeSpan Clamp(TimeSpan t, TimeSpan? min = null)
    {
        var lo = min ?? TimeSpan.Zero;
        var seconds = TimeSpan.FromSeconds(Math.Ceiling(t.TotalSeconds));
        return seconds < lo ? lo : seconds > MaxVisibility ? MaxVisibility : seconds;
    }

    private static string Token(string messageId, string popReceipt) => messageId + "|" + popReceipt;

    private static (string Id, string Receipt) Untoken(string token)
    {
        var bar = token.IndexOf('|', StringComparison.Ordinal);
        if (bar <= 0) throw new ArgumentException("Not a lease of this queue.", nameof(token));
        return (token[..bar], token[(bar + 1)..]);
    }
}

/// <summary>The dead-letter form of a body that is not an envelope (<c>{"raw": ..., "deadLetterReason": ...}</c>).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class RawDeadLetterJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
