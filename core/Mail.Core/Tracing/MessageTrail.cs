using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Threading;

namespace Mail.Core.Tracing;

/// <summary>One step in a message's life, as `mail trace` and the console's trace page show it.</summary>
public enum TraceStep
{
    /// <summary>Taken in: client, HELO, sender, recipients (from the envelope).</summary>
    Received,
    /// <summary>A check's result (spf pass, dmarc fail, spam score...).</summary>
    Check,
    /// <summary>The verdict of the checks: inbox, junk, quarantine, discard, and why.</summary>
    Verdict,
    /// <summary>A copy stored in a user's mailbox.</summary>
    Delivered,
    /// <summary>A recipient not delivered (unknown user, alias reaching nobody).</summary>
    NotDelivered,
    /// <summary>Held for an operator.</summary>
    Quarantined,
    Released,
    /// <summary>Deleted from the quarantine by an operator.</summary>
    Deleted,
    /// <summary>Remote recipients handed to the outbound queue.</summary>
    QueuedOutbound,
    /// <summary>One outbound delivery attempt of one recipient and the remote reply (sent, deferred, bounced, expired).</summary>
    Attempt,
    /// <summary>A delivery status notification to the sender.</summary>
    Notice,
}

/// <param name="Recipient">The recipient the step is about, or null for the whole message.</param>
public sealed record TraceEvent(DateTimeOffset At, TraceStep Step, string Text, string? Recipient = null);

/// <summary>A message's recorded steps. <paramref name="V"/> is the format version of the stored JSON.</summary>
public sealed record MessageTrailEntry(string QueueId, DateTimeOffset ReceivedAt, string MailFrom, IReadOnlyList<string> Recipients,
    IReadOnlyList<TraceEvent> Events, int V = MessageTrail.FormatVersion);

/// <summary>
/// What happened to each message, step by step, kept in the state store (partition <see cref="Partition"/>, key = queue
/// id, one JSON list per message) for <see cref="Retention"/>: the inbound stage records the checks and where the copies
/// went, the outbound stage every attempt and reply, the quarantine its hold and release. The log says the same in
/// lines; this is the record `mail trace` and the console read (no log parsing).
/// <para>Appends are group-committed, so concurrent messages share one write and one sync: SQLite has one writer, so
/// a synced transaction per message and stage would put two syncs per relayed message one after another
/// (bench/README.md, "The message trail's syncs"). A store that group-commits its own writes
/// (<see cref="IGroupCommittedStateStore"/>, SQLite) gets each append as one read-merge-write in its next transaction.
/// For the others (Table storage) the appends of every message finishing a stage while a write is in progress are
/// merged (several for one message in order) by a <see cref="GroupWriter{T}"/> and written in one
/// <see cref="IStateStore.PutManyAsync"/>; that write is read-merge-write without a version check: a step appended by
/// another instance to the same message at the same moment may be lost (the trace is a diagnostic, the mail is the
/// job). Each caller returns once its steps are written.</para>
/// <para>Either way a step is appended to the stored JSON's <c>Events</c> array in place, not by parsing and writing
/// the whole entry again (<see cref="Merge"/>).</para>
/// </summary>
public sealed class MessageTrail(IStateStore state, TimeProvider? time = null)
{
    public const string Partition = "trace";
    public const int FormatVersion = 1;

    /// <summary>How long a message's steps are kept.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Adds steps to the envelope's trail (created with the envelope's sender and recipients on first use).</summary>
    public Task AppendAsync(Envelope envelope, IReadOnlyList<TraceEvent> events, CancellationToken cancellationToken = default)
    {
        if (events.Count == 0) return Task.CompletedTask;
        // SQLite batches the writes itself: one read-merge-write of this message's entry in its next transaction.
        if (state is IGroupCommittedStateStore direct)
            return direct.UpdateAsync(Partition, envelope.QueueId, existing => Merge(existing, envelope, events), Now + Retention, CancellationToken.None);
        return s_writers.GetValue(state, s => new GroupWriter<(Envelope, IReadOnlyList<TraceEvent>)>(batch => WriteAsync(s, batch)))
            .WriteAsync([(envelope, events)]);
    }

    private static readonly ConditionalWeakTable<IStateStore, GroupWriter<(Envelope Envelope, IReadOnlyList<TraceEvent> Events)>> s_writers = new();

    private async Task WriteAsync(IStateStore store, List<(Envelope Envelope, IReadOnlyList<TraceEvent> Events)> batch)
    {
        var entries = new List<KeyValuePair<string, string>>();
        foreach (var message in batch.GroupBy(b => b.Envelope.QueueId, StringComparer.Ordinal))
        {
            var existing = await store.GetAsync(Partition, message.Key, CancellationToken.None);
            entries.Add(new(message.Key, Merge(existing?.Value, message.First().Envelope, [.. message.SelectMany(m => m.Events)])));
        }
        await store.PutManyAsync(Partition, entries, Now + Retention, CancellationToken.None);
    }

    /// <summary>The stored trail (JSON, or null when there is none) with <paramref name="events"/> added, as JSON.</summary>
    internal static string Merge(string? existing, Envelope first, IReadOnlyList<TraceEvent> events)
    {
        if (existing is not null && AppendInPlace(existing, events) is { } appended) return appended;
        var entry = existing is null ? null : Parse(existing);
        var updated = entry is null
            ? new MessageTrailEntry(first.QueueId, first.ReceivedAt, first.MailFrom, [.. first.Recipients.Select(r => r.Address)], events)
            : entry with { Events = [.. entry.Events, .. events] };
        return JsonSerializer.Serialize(updated, MessageTrailJson.Default.MessageTrailEntry);
    }

    /// <summary>The end of an entry as this class writes it: <see cref="MessageTrailEntry.Events"/>, then only the version.</summary>
    private static readonly string s_eventsEnd = $"],\"V\":{FormatVersion}}}";

    /// <summary>
    /// Adds the events inside the stored entry's <c>Events</c> array, serializing only them: a step costs the same
    /// whatever the message's trail already holds, instead of a parse and a write of the whole entry. This class is the
    /// partition's one writer and writes <c>Events</c> as the last property but the version, so an entry ending in
    /// <c>],"V":1}</c> ends with that array (a string value cannot end the document). Null for any other form (a newer
    /// version's, a damaged one): the caller parses it as before.
    /// </summary>
    private static string? AppendInPlace(string existing, IReadOnlyList<TraceEvent> events)
    {
        if (!existing.EndsWith(s_eventsEnd, StringComparison.Ordinal)) return null;
        var close = existing.Length - s_eventsEnd.Length;
        var json = new StringBuilder(existing.Length + 160 * events.Count).Append(existing, 0, close);
        var empty = close > 0 && existing[close - 1] == '[';
        foreach (var e in events)
        {
            if (!empty) json.Append(',');
            empty = false;
            json.Append(JsonSerializer.Serialize(e, MessageTrailJson.Default.TraceEvent));
        }
        return json.Append(existing, close, existing.Length - close).ToString();
    }

    public Task AppendAsync(Envelope envelope, TraceStep step, string text, string? recipient = null, CancellationToken cancellationToken = default) =>
        AppendAsync(envelope, [new TraceEvent(Now, step, text, recipient)], cancellationToken);

    public async Task<MessageTrailEntry?> GetAsync(string queueId, CancellationToken cancellationToken = default) =>
        await state.GetAsync(Partition, queueId, cancellationToken) is { } e ? Parse(e.Value) : null;

    /// <summary>Every kept trail (the console's and `mail trace ADDRESS`'s search), oldest key first.</summary>
    public async IAsyncEnumerable<MessageTrailEntry> ListAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var e in state.ListAsync(Partition, cancellationToken))
            if (Parse(e.Value) is { } entry) yield return entry;
    }

    private static MessageTrailEntry? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, MessageTrailJson.Default.MessageTrailEntry) is { V: <= FormatVersion } e ? e : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(UseStringEnumConverter = true)]
[JsonSerializable(typeof(MessageTrailEntry))]
internal sealed partial class MessageTrailJson : JsonSerializerContext;
