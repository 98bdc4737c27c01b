using Mail.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Mail.Outbound;

/// <summary>Operator actions on outbound envelopes (Postfix postsuper -h/-H/-d, postqueue -i).</summary>
public enum QueueAction
{
    Hold,
    Release,
    Retry,
    Delete,
}

/// <summary>
/// How `mail queue hold|release|retry|delete` reach a running server: the CLI cannot touch the server's queue
/// directly (in embedded mode the spool belongs to the running process; in cloud mode the queue service owns the
/// messages), so it records the request in the state store, which both share. The worker applies requests every
/// second: hold and delete are marks the stage reads before delivering; every action also makes the envelope due at
/// once where the queue can reorder (<see cref="IMessageQueue.MakeDueAsync"/>), so it takes effect now rather than at
/// its next scheduled attempt.
/// </summary>
public sealed class QueueControl(IStateStore state)
{
    public const string RequestPartition = "outbound-control";
    public const string HoldPartition = "outbound-hold";
    public const string DeletePartition = "outbound-delete";

    private static readonly TimeSpan s_markLifetime = TimeSpan.FromDays(30);

    public Task RequestAsync(string queueId, QueueAction action, CancellationToken cancellationToken = default) =>
        state.PutAsync(RequestPartition, queueId, action.ToString(), DateTimeOffset.UtcNow + TimeSpan.FromDays(7), cancellationToken);

    /// <summary>Where an envelope's delete mark is: the stage reads it together with the run's other state (one read).</summary>
    public static (string Partition, string Key) DeleteMark(string queueId) => (DeletePartition, queueId);

    /// <summary>Where an envelope's hold mark is.</summary>
    public static (string Partition, string Key) HoldMark(string queueId) => (HoldPartition, queueId);

    /// <summary>Applies waiting requests; returns how many.</summary>
    public async Task<int> ApplyAsync(IMessageQueue queue, ILogger log, CancellationToken cancellationToken)
    {
        var requests = new List<StateEntry>();
        await foreach (var entry in state.ListAsync(RequestPartition, cancellationToken)) requests.Add(entry);
        foreach (var request in requests)
        {
            if (!Enum.TryParse<QueueAction>(request.Value, out var action))
            {
                await state.DeleteAsync(RequestPartition, request.Key, cancellationToken);
                continue;
            }
            var until = DateTimeOffset.UtcNow + s_markLifetime;
            switch (action)
            {
                case QueueAction.Hold:
                    await state.PutAsync(HoldPartition, request.Key, "held", until, cancellationToken);
                    break;
                case QueueAction.Release:
                    await state.DeleteAsync(HoldPartition, request.Key, cancellationToken);
                    break;
                case QueueAction.Delete:
                    await state.PutAsync(DeletePartition, request.Key, "deleted", until, cancellationToken);
                    break;
            }
            var due = await queue.MakeDueAsync(request.Key, cancellationToken);
            log.LogInformation("{QueueId}: {Action} requested by an operator{Due}", request.Key, action.ToString().ToLowerInvariant(),
                due > 0 ? "; due now" : "");
            await state.DeleteAsync(RequestPartition, request.Key, cancellationToken);
        }
        return requests.Count;
    }
}
