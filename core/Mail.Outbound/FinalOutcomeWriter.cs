using Mail.Core.Ports;
using Mail.Core.Threading;

namespace Mail.Outbound;

/// <summary>
/// Group commit of the outbound stage's final outcomes (<see cref="OutboundStage.FinalPartition"/>) where the store does
/// not batch its own writes (Table storage: entity-group transactions): runs that finish while a write is in progress
/// queue their entries, and the next write takes all of them in one <see cref="IStateStore.PutManyAsync"/>. A store that
/// group-commits its writes (<see cref="IGroupCommittedStateStore"/>, SQLite: one transaction and WAL sync per batch)
/// gets each run's entries directly. Either way each caller's task completes once its entries are durable, so a run
/// still settles its envelope only after its outcomes are written; concurrent runs share the sync.
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

    public Task WriteAsync(IReadOnlyList<KeyValuePair<string, string>> entries) => state is IGroupCommittedStateStore
        ? state.PutManyAsync(OutboundStage.FinalPartition, entries, expiresAt(), CancellationToken.None)
        : _writer.WriteAsync(entries);
}
