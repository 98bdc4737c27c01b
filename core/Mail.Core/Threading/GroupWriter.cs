namespace Mail.Core.Threading;

/// <summary>
/// Group commit for a store write: items added while a write is in progress are queued, and the next write takes all
/// of them at once (<c>write</c>: for SQLite one transaction, so one WAL sync, instead of one per caller taking turns
/// at the database's single writer lock). Each caller's task completes once the write that took its items has
/// finished, or fails with that write's exception, so a caller still acts only after its items are written.
/// </summary>
public sealed class GroupWriter<T>(Func<List<T>, Task> write)
{
    private readonly Lock _lock = new();
    private List<T> _queued = [];
    private TaskCompletionSource? _next;
    private bool _writing;

    public Task WriteAsync(IEnumerable<T> items)
    {
        TaskCompletionSource done;
        bool lead;
        lock (_lock)
        {
            _queued.AddRange(items);
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
            List<T> batch;
            TaskCompletionSource done;
            lock (_lock)
            {
                if (_queued.Count == 0)
                {
                    _writing = false;
                    return;
                }
                (batch, _queued) = (_queued, []);
                done = _next!;
                _next = null;
            }
            try
            {
                await write(batch);
                done.SetResult();
            }
            catch (Exception e)
            {
                // Every caller of this batch fails as its own write would have.
                done.SetException(e);
            }
        }
    }
}
