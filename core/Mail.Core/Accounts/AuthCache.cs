using System.Security.Cryptography;
using System.Text;

namespace Mail.Core.Accounts;

/// <summary>
/// Successful password verifications remembered for a while, like Dovecot's auth_cache, for every login of the process
/// (SMTP AUTH and IMAP LOGIN/AUTHENTICATE go through <see cref="MailDirectory.AuthenticateAsync"/>): a client that
/// reconnects (phones do, every few minutes; a submission client per batch) does not pay the deliberately slow PBKDF2
/// (600,000 rounds, about 0.2 s of CPU) again. An entry is keyed by the canonical user and holds an HMAC-SHA256 of the
/// password under a random key that lives only in this process (never the password, and useless outside it), together
/// with the stored credential record it was checked against: when that record changes (new password, new salt) the
/// entry no longer matches and the slow check runs again. Failed logins are never cached, so guessing always pays the
/// full hash. Bounded: at most <c>maxEntries</c>, the soonest to expire evicted first.
/// </summary>
public sealed class AuthCache
{
    private readonly TimeSpan _ttl;
    private readonly int _maxEntries;
    private readonly TimeProvider _time;
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _hits;

    /// <summary>Dovecot's auth_cache_ttl default.</summary>
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(1);

    public const int DefaultSize = 10_000;

    public AuthCache(TimeSpan ttl, int maxEntries = DefaultSize, TimeProvider? time = null)
    {
        if (ttl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ttl), "The cache TTL must be positive.");
        if (maxEntries < 1) throw new ArgumentOutOfRangeException(nameof(maxEntries), "The cache needs room for at least one entry.");
        _ttl = ttl;
        _maxEntries = maxEntries;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The cache for the settings Auth:CacheTtl and Auth:CacheSize, or null when the TTL is zero (off).</summary>
    public static AuthCache? Create(TimeSpan ttl, int maxEntries, TimeProvider? time = null) =>
        ttl == TimeSpan.Zero ? null : new AuthCache(ttl, maxEntries, time);

    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    /// <summary>Logins answered from the cache since start (no password hash computed).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>True when <paramref name="password"/> was verified for <paramref name="user"/> against the same
    /// <paramref name="storedCredential"/> within the TTL.</summary>
    public bool Matches(string user, string password, string storedCredential)
    {
        var mac = Mac(user, password);
        lock (_gate)
        {
            if (!_entries.TryGetValue(user, out var e)) return false;
            if (e.Expires <= _time.GetUtcNow() || !string.Equals(e.StoredCredential, storedCredential, StringComparison.Ordinal))
            {
                _entries.Remove(user);
                return false;
            }
            if (!CryptographicOperations.FixedTimeEquals(e.Mac, mac)) return false;
        }
        Interlocked.Increment(ref _hits);
        return true;
    }

    /// <summary>Remembers a verification that succeeded against <paramref name="storedCredential"/>.</summary>
    public void Add(string user, string password, string storedCredential)
    {
        var mac = Mac(user, password);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (!_entries.ContainsKey(user) && _entries.Count >= _maxEntries) MakeRoom(now);
            _entries[user] = new Entry(mac, storedCredential, now + _ttl);
        }
    }

    private void MakeRoom(DateTimeOffset now)
    {
        foreach (var (user, e) in _entries.ToList())
            if (e.Expires <= now) _entries.Remove(user);
        if (_entries.Count < _maxEntries) return;
        var soonest = _entries.MinBy(kv => kv.Value.Expires).Key;
        _entries.Remove(soonest);
    }

    private byte[] Mac(string user, string password) =>
        HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(user + "\0" + password));

    private sealed record Entry(byte[] Mac, string StoredCredential, DateTimeOffset Expires);
}
