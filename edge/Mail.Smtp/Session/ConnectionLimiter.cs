using System.Net;

namespace Mail.Smtp.Session;

/// <summary>Counts open connections in total and per client address (the listener has made an IPv4-mapped IPv6
/// client plain IPv4, so it counts as one).</summary>
internal sealed class ConnectionLimiter(int maxTotal, int maxPerClient)
{
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private readonly Lock _lock = new();
    private int _total;

    public int Total
    {
        get
        {
            lock (_lock) return _total;
        }
    }

    /// <summary>Returns null when admitted (call <see cref="Release"/> later), else the reason to give in the 421.</summary>
    public string? TryAcquire(IPAddress client)
    {
        lock (_lock)
        {
            if (_total >= maxTotal) return "Too many connections";
            _perClient.TryGetValue(client, out var n);
            if (n >= maxPerClient) return $"Too many connections from {client}";
            _perClient[client] = n + 1;
            _total++;
            return null;
        }
    }

    public void Release(IPAddress client)
    {
        lock (_lock)
        {
            _total--;
            if (_perClient.TryGetValue(client, out var n))
            {
                if (n <= 1) _perClient.Remove(client);
                else _perClient[client] = n - 1;
            }
        }
    }
}
