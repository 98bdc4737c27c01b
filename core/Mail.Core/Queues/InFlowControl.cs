using Mail.Core.Telemetry;

namespace Mail.Core.Queues;

/// <summary>What a queue tells <see cref="InFlowControl"/>: how many envelopes no consumer has taken yet, and when a
/// consumer takes some. The embedded inbound spool is one.</summary>
public interface IIncomingBacklog
{
    /// <summary>Envelopes queued that no consumer has taken yet (Postfix's incoming queue): not those in flight, and not
    /// those waiting for a retry after a failed attempt (Postfix's deferred queue).</summary>
    int Incoming { get; }

    /// <summary>Raised with the number of envelopes a consumer has just taken from the incoming backlog, outside the
    /// queue's lock.</summary>
    event Action<int>? Taken;
}

/// <summary>How <see cref="InFlowControl.WaitAsync"/> ended.</summary>
public enum InFlowWait
{
    /// <summary>The backlog was at or under the threshold (or the control is off): no pause.</summary>
    None,

    /// <summary>Paused until a consumer took an envelope (the token Postfix's qmgr hands out).</summary>
    Released,

    /// <summary>Paused for the whole delay: the consumer took nothing meanwhile, and the transaction goes on anyway.</summary>
    TimedOut,
}

/// <summary>
/// Postfix's in-flow control (<c>in_flow_delay</c>) for a process that both receives and delivers: when the incoming
/// backlog is over <c>threshold</c>, a new transaction waits for a token before it goes on, up to <c>delay</c>. A token
/// is an envelope the consumer takes from the backlog (one each, first come first served), as qmgr(8) hands cleanup(8)
/// one for each message it moves out of the incoming queue; once the backlog is back at the threshold every waiter
/// goes on. So when arrivals outrun deliveries the receiving side slows to the delivery rate and the CPU goes to
/// delivery, and nothing is ever refused: after the delay a transaction goes on whatever the backlog.
/// </summary>
public sealed class InFlowControl : IDisposable
{
    private readonly IIncomingBacklog _backlog;
    private readonly int _threshold;
    private readonly TimeSpan _delay;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly LinkedList<TaskCompletionSource> _waiting = new();

    /// <param name="threshold">Envelopes the backlog may hold before new transactions wait (0: any backlog).</param>
    /// <param name="delay">Longest wait of one transaction; zero turns the control off.</param>
    public InFlowControl(IIncomingBacklog backlog, int threshold, TimeSpan delay, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(backlog);
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        (_backlog, _threshold, _delay, _time) = (backlog, threshold, delay, time ?? TimeProvider.System);
        _backlog.Taken += Release;
    }

    /// <summary>Returns at once when the backlog is at or under the threshold; otherwise when the consumer takes an
    /// envelope for this waiter, the backlog falls back to the threshold, or the delay has passed. Counts each pause in
    /// <see cref="MailTelemetry.InFlowDelayed"/>. Throws only when <paramref name="cancellationToken"/> is cancelled.</summary>
    public async ValueTask<InFlowWait> WaitAsync(CancellationToken cancellationToken = default)
    {
        if (_delay <= TimeSpan.Zero || _backlog.Incoming <= _threshold) return InFlowWait.None;
        var token = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LinkedListNode<TaskCompletionSource> node;
        lock (_gate)
        {
            // Taken between the first look and now: the backlog may be back under the threshold, with no more takes to come.
            if (_backlog.Incoming <= _threshold) return InFlowWait.None;
            node = _waiting.AddLast(token);
        }
        InFlowWait outcome;
        try
        {
            await token.Task.WaitAsync(_delay, _time, cancellationToken);
            outcome = InFlowWait.Released;
        }
        catch (TimeoutException)
        {
            outcome = InFlowWait.TimedOut;
        }
        finally
        {
            lock (_gate)
            {
                if (node.List is not null) _waiting.Remove(node);
            }
        }
        MailTelemetry.InFlow(outcome == InFlowWait.Released ? "released" : "timeout");
        return outcome;
    }

    /// <summary>Transactions waiting now.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate) return _waiting.Count;
        }
    }

    /// <summary>One waiter goes on per envelope taken, all of them once the backlog is back at the threshold. Their
    /// continuations run on the thread pool, not on the consumer's thread.</summary>
    private void Release(int taken)
    {
        lock (_gate)
        {
            var release = _backlog.Incoming <= _threshold ? _waiting.Count : taken;
            for (; release > 0 && _waiting.First is { } first; release--)
            {
                _waiting.RemoveFirst();
                first.Value.TrySetResult();
            }
        }
    }

    public void Dispose() => _backlog.Taken -= Release;
}
