namespace Mail.Storage.Embedded;

/// <summary>
/// A handle on the group commit that makes the embedded stores' appends durable (<see cref="DurabilityBarrier"/>: one
/// sync thread per process, which every <see cref="AppendFile"/> enlists with). It lets a store whose commit does not
/// wait for the disk name, in its constructor, the group commit a later write waits for and that covers its records
/// too (<see cref="SegmentMessageStore"/>'s <c>deferCommitTo</c>, <see cref="SpoolQueue.EnqueueCommit"/>).
/// </summary>
public sealed class GroupCommit
{
    internal GroupCommit(DurabilityBarrier barrier) => Barrier = barrier;

    internal DurabilityBarrier Barrier { get; }

    /// <summary>The process's group commit: every embedded store's appends, and what a spool enqueue waits for.</summary>
    internal static GroupCommit Process { get; } = new(DurabilityBarrier.Shared);
}
