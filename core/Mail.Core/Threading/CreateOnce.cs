namespace Mail.Core.Threading;

/// <summary>
/// Runs a "create if not exists" call once per process, and again after a failure (a transient error must not
/// be remembered forever, which a plain Lazy&lt;Task&gt; would do): the Azure adapters' containers, queues and tables,
/// the Functions app's poison table.
/// </summary>
// Not IDisposable: a SemaphoreSlim only holds an OS handle once AvailableWaitHandle is read, which this never does,
// so its owners (one per store, alive for the process) need no dispose chain for it.
#pragma warning disable CA1001
public sealed class CreateOnce(Func<CancellationToken, Task> create)
#pragma warning restore CA1001
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _done;

    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        if (_done) return;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_done) return;
            await create(cancellationToken);
            _done = true;
        }
        finally
        {
            _gate.Release();
        }
    }
}
