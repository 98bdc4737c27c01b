using System.Runtime.CompilerServices;

namespace Mail.Core.Threading;

/// <summary>
/// <c>await ThreadPoolHop.Yield()</c> continues on the thread pool, or at once when already there.
/// <para>A process that only runs the SMTP edge has socket continuations run inline ("Sockets:InlineCompletions"):
/// the code after a socket read runs on the socket engine's event thread, and that thread serves none of its other
/// connections meanwhile. Short protocol steps are cheaper there (no hand-off to a pool thread per command); work that
/// may block, such as a SQLite query or a policy's lookups, goes to the pool first through this. On a pool thread it
/// costs nothing, so it changes nothing where continuations are not inline.</para>
/// </summary>
public readonly struct ThreadPoolHop : ICriticalNotifyCompletion
{
    public static ThreadPoolHop Yield() => default;

    public ThreadPoolHop GetAwaiter() => this;

    public bool IsCompleted => Thread.CurrentThread.IsThreadPoolThread;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) =>
        ThreadPool.QueueUserWorkItem(static c => c(), continuation, preferLocal: false);

    public void UnsafeOnCompleted(Action continuation) =>
        ThreadPool.UnsafeQueueUserWorkItem(static c => c(), continuation, preferLocal: false);
}
