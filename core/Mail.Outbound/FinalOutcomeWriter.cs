using Mail.Core.Ports;

namespace Mail.Outbound;

/// <summary>
/// Group commit of the outbound stage's final outcomes (<see cref="OutboundStage.FinalPartition"/>): runs that finish
/// while a write is in progress queue their entries, and the next write takes all of them in one
/// <see cref="IStateStore.PutManyAsync"/> (SQLite: one transaction, one WAL sync; Table storage: entity-group
/// transactions). Each caller's task completes once its entries are durable, so a run still settles its envelope only
/// after its outcomes are written, as before; concurrent runs just share the sync instead of taking turns at it.
/// </summary>
internal sealed class FinalOutcomeWriter(IStateStore state, Func<DateTimeOffset> expiresAt)
{
    private readonly Lock _lock = new();
    private List<KeyValuePair<string, string>> _queued = [];
    private TaskCompletionSource? _next;
    private bool _writing;

    public Task WriteAsync(IReadOnlyList<KeyValuePair<string, string>> entries)
    {
        TaskCompletionSource done;
        bool lead;
        lock (_lock)
        {
            _queued.AddRange(entries);
            done = _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lead = !_writing;
            _writing = true;
        }
        if (lead) _ = Task.Run(DrainAsync);
        return done.Task;
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            List<KeyValuePair<string, string>> batch;
            TaskCompletionSource done;
            lock (_lock)
            {
                if (_queued.Count == 0)
                {
                    _writing = false;
                    return;
                }
                (batch, _queued) = (_queued, []);
                // Two copies of one envelope may finish together: one entry per key (Table storage refuses a batch with two).
                if (batch.Select(e => e.Key).Distinct(StringComparer.Ordinal).Count() < batch.Count) batch = [.. batch.GroupBy(e => e.Key, StringComparer.Ordinal).Select(g => g.Last())];
                done = _next!;
                _next = null;
            }
            try
            {
                await state.PutManyAsync(OutboundStage.FinalPartition, batch, expiresAt(), CancellationToken.None);
                done.SetResult();
            }
            catch (Exception e)
            {
                // Every run of this batch fails as its own write would have: the envelope is retried.
                done.SetException(e);
            }
        }
    }
}
