using System.Collections.Concurrent;

namespace Mail.Core.Listening;

/// <summary>
/// Counts failed logins per client address and per user name over a window; past the limit, logins from that
/// address or for that user are refused (without checking the password) until the window has passed.
/// In-process: each gateway instance keeps its own counts. One instance serves IMAP and POP3 alike (`mail serve`
/// makes one), so a client guessing passwords over both protocols meets one counter, as with Dovecot's auth penalty.
/// </summary>
public sealed class LoginThrottle(int maxFailures, TimeSpan window, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.OrdinalIgnoreCase);

    public bool IsBlocked(string clientAddress, string? user) =>
        Count("ip:" + clientAddress) >= maxFailures || (user is not null && Count("user:" + user) >= maxFailures);

    public void RecordFailure(string clientAddress, string? user)
    {
        Add("ip:" + clientAddress);
        if (user is not null) Add("user:" + user);
        if (_failures.Count > 100_000) Prune();
    }

    private int Count(string key)
    {
        if (!_failures.TryGetValue(key, out var q)) return 0;
        lock (q)
        {
            Expire(q);
            return q.Count;
        }
    }

    private void Add(string key)
    {
        var q = _failures.GetOrAdd(key, _ => new Queue<DateTimeOffset>());
        lock (q)
        {
            Expire(q);
            q.Enqueue(time.GetUtcNow());
        }
    }

    private void Expire(Queue<DateTimeOffset> q)
    {
        var cutoff = time.GetUtcNow() - window;
        while (q.Count > 0 && q.Peek() <= cutoff) q.Dequeue();
    }

    private void Prune()
    {
        foreach (var (key, q) in _failures)
        {
            lock (q)
            {
                Expire(q);
                if (q.Count == 0) _failures.TryRemove(key, out _);
            }
        }
    }
}
