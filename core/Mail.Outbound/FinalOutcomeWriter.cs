using Mail.Core.Ports;
using Mail.Core.Threading;

namespace Mail.Outbound;

/// <summary>
/// Group commit of the outbound stage's final outcomes (<see cref="OutboundStage.FinalPartition"/>): runs that finish
/// while a write is in progress queue their entries, and the next write takes all of them in one
/// <see cref="IStateStore.PutManyAsync"/> (SQLite: one transaction, one WAL sync; Table storage: entity-group
/// transactions). Each caller's task completes once its entries are durable, so a run settles its envelope only
/// after its outcomes are written; concurrent runs share the sync instead of taking turns at it.
/// </summary>
internal sealed class FinalOutcomeWriter(IStateStore state, Func<DateTimeOffset> expiresAt)
{
    private readonly GroupWriter<KeyValuePair<string, string>> _writer = new(batch =>
    {
        // Two copies of one envelope may finish together: one entry per key (Table storage refuses a batch with two).
        IReadOnlyList<KeyValuePair<string, string>> entries = batch.Select(e => e.Key).Distinct(StringComparer.Ordinal).Count() < batch.Count
            ? [.. batch.GroupBy(e => e.Key, StringComparer.Ordinal).Select(g => g.Last())]
            : batch;
        return state.PutManyAsync(OutboundStage.FinalPartition, entries, expiresAt(), CancellationToken.None);
    });

    public Task WriteAsync(IReadOnlyList<KeyValuePair<string, string>> entries) => _writer.WriteAsync(entries);
}
