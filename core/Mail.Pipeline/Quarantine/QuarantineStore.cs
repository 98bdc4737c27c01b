using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Pipeline.Quarantine;

/// <summary>A message held for an operator: the envelope, why, and when. The raw message stays at <see cref="MessageRef"/>.</summary>
public sealed record QuarantineEntry(string QueueId, string Reason, DateTimeOffset Date, string MessageRef, string MailFrom, IReadOnlyList<string> Recipients, Envelope Envelope);

/// <summary>
/// Held messages, in the state store (partition <see cref="Partition"/>, key = queue id, value JSON).
/// Writing the same queue id again overwrites the same entry, so a redelivered envelope is held once.
/// </summary>
public sealed class QuarantineStore(IStateStore state)
{
    public const string Partition = "quarantine";

    public Task PutAsync(Envelope envelope, string reason, DateTimeOffset date, CancellationToken cancellationToken = default)
    {
        var entry = new QuarantineEntry(envelope.QueueId, reason, date, envelope.MessageRef, envelope.MailFrom,
            envelope.Recipients.Select(r => r.Address).ToList(), envelope);
        return state.PutAsync(Partition, envelope.QueueId, JsonSerializer.Serialize(entry, QuarantineJson.Default.QuarantineEntry), cancellationToken: cancellationToken);
    }

    public async Task<QuarantineEntry?> GetAsync(string queueId, CancellationToken cancellationToken = default) =>
        await state.GetAsync(Partition, queueId, cancellationToken) is { } e ? JsonSerializer.Deserialize(e.Value, QuarantineJson.Default.QuarantineEntry) : null;

    public async Task<IReadOnlyList<QuarantineEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        var list = new List<QuarantineEntry>();
        await foreach (var e in state.ListAsync(Partition, cancellationToken))
            if (JsonSerializer.Deserialize(e.Value, QuarantineJson.Default.QuarantineEntry) is { } q) list.Add(q);
        return list;
    }

    public Task DeleteAsync(string queueId, CancellationToken cancellationToken = default) =>
        state.DeleteAsync(Partition, queueId, cancellationToken);
}

/// <summary>Compile-time JSON (the default options, as entries were always written) so the AOT build needs no reflection.</summary>
[JsonSerializable(typeof(QuarantineEntry))]
internal sealed partial class QuarantineJson : JsonSerializerContext;
