using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mail.Core.Ports;

namespace Mail.WebConsole;

/// <summary>
/// Signed-in users' sessions. The cookie holds a random 256-bit id and nothing else. Each session carries its own
/// anti-forgery token (the synchronizer-token pattern): a state-changing request must send it back in a form field or a
/// header, which a page of another site cannot read. With a state store the sessions are also kept there (partition
/// <see cref="Partition"/>, keyed by the SHA-256 of the id, so the store never holds a usable cookie; JSON format 1;
/// expiring after the idle time), so a restart of `mail serve` signs nobody out; sign-out deletes the entry. Nothing
/// else is needed for that: no key ring to keep, rotate or leak, as a stateless (Data Protection) cookie would need,
/// and sign-out really ends a session.
/// </summary>
public sealed class ConsoleSessions(TimeSpan idle, TimeProvider time, IStateStore? state = null)
{
    public const string CookieName = "mail_console";
    public const string Partition = "console-session";

    /// <summary>How stale the stored last-seen time may get: written again at most this often per session.</summary>
    private static readonly TimeSpan Touch = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public sealed class Session(string user, string csrf, DateTimeOffset lastSeen)
    {
        public string User { get; } = user;
        public string CsrfToken { get; } = csrf;
        public DateTimeOffset LastSeen { get; set; } = lastSeen;
        public DateTimeOffset Stored { get; set; } = lastSeen;
    }

    public async Task<(string Id, Session Session)> CreateAsync(string user, CancellationToken cancellationToken)
    {
        Prune();
        var id = NewToken();
        var session = new Session(user, NewToken(), time.GetUtcNow());
        _sessions[id] = session;
        if (state is not null) await StoreAsync(id, session, cancellationToken);
        return (id, session);
    }

    /// <summary>The live session for a cookie value (its idle time restarts), or null.</summary>
    public async Task<Session?> FindAsync(string? id, CancellationToken cancellationToken)
    {
        if (id is null || id.Length != 43) return null;
        if (!_sessions.TryGetValue(id, out var s))
        {
            // Not in this process: one from before a restart, or none.
            if (state is null || await LoadAsync(id, cancellationToken) is not { } loaded) return null;
            s = _sessions.GetOrAdd(id, loaded);
        }
        var now = time.GetUtcNow();
        if (now - s.LastSeen > idle)
        {
            await EndAsync(id, cancellationToken);
            return null;
        }
        s.LastSeen = now;
        if (state is not null && now - s.Stored > Touch) await StoreAsync(id, s, cancellationToken);
        return s;
    }

    public async Task EndAsync(string? id, CancellationToken cancellationToken)
    {
        if (id is null) return;
        _sessions.TryRemove(id, out _);
        if (state is not null) await state.DeleteAsync(Partition, Key(id), cancellationToken);
    }

    public static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Constant-time: the time taken says nothing about how much of a guessed token was right.</summary>
    public static bool SameToken(string? expected, string? given) =>
        expected is not null && given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(given));

    private static string Key(string id) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)));

    private async Task StoreAsync(string id, Session s, CancellationToken cancellationToken)
    {
        s.Stored = s.LastSeen;
        var value = JsonSerializer.Serialize(new StoredSession(s.User, s.CsrfToken, s.LastSeen), ConsoleJson.Default.StoredSession);
        await state!.PutAsync(Partition, Key(id), value, s.LastSeen + idle, cancellationToken);
    }

    private async Task<Session?> LoadAsync(string id, CancellationToken cancellationToken)
    {
        if (await state!.GetAsync(Partition, Key(id), cancellationToken) is not { } entry) return null;
        try
        {
            return JsonSerializer.Deserialize(entry.Value, ConsoleJson.Default.StoredSession) is { V: 1 } stored
                ? new Session(stored.User, stored.CsrfToken, stored.LastSeen) : null;
        }
        catch (JsonException)
        {
            return null; // a damaged entry: sign in again
        }
    }

    private void Prune()
    {
        var cutoff = time.GetUtcNow() - idle;
        foreach (var (id, s) in _sessions)
            if (s.LastSeen < cutoff) _sessions.TryRemove(id, out _);
    }
}

/// <summary>A session as kept in the state store (format <paramref name="V"/>).</summary>
public sealed record StoredSession(string User, string CsrfToken, DateTimeOffset LastSeen, int V = 1);
