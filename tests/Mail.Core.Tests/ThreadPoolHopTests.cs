using Mail.Core.Threading;

namespace Mail.Core.Tests;

public sealed class ThreadPoolHopTests
{
    [Fact]
    public async Task From_a_dedicated_thread_the_rest_runs_on_the_pool()
    {
        var where = new TaskCompletionSource<(bool BeforePool, bool AfterPool, int Before, int After)>();
        var thread = new Thread(() =>
        {
            // Like a socket event thread: not a pool thread, and it must not carry on with the work.
            HopAsync().ContinueWith(t => where.SetResult(t.Result), TaskScheduler.Default);
        }) { IsBackground = true, Name = "not a pool thread" };
        thread.Start();
        var (beforePool, afterPool, before, after) = await where.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(beforePool);
        Assert.True(afterPool);
        Assert.NotEqual(before, after);

        static async Task<(bool, bool, int, int)> HopAsync()
        {
            var beforePool = Thread.CurrentThread.IsThreadPoolThread;
            var before = Environment.CurrentManagedThreadId;
            await ThreadPoolHop.Yield();
            return (beforePool, Thread.CurrentThread.IsThreadPoolThread, before, Environment.CurrentManagedThreadId);
        }
    }

    [Fact]
    public async Task On_a_pool_thread_it_continues_at_once()
    {
        Assert.True(await Task.Run(() => ThreadPoolHop.Yield().GetAwaiter().IsCompleted));
    }
}
