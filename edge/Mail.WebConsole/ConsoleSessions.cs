using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Mail.WebConsole;

/// <summary>
/// Signed-in administrators, kept in this process: the cookie holds a random 256-bit id and nothing else, so there is
/// no key ring to keep and a restart signs everyone out. Each session carries its own anti-forgery token (the
/// synchronizer-token pattern): a state-changing request must send it back in a form field or a header, which a page
/// of another site cannot read.
/// </summary>
public sealed class ConsoleSessions(TimeSpan idle, TimeProvider time)
{
    public const string CookieName = "mail_console";

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public sealed class Session(string user, string csrf, DateTimeOffset lastSeen)
    {
        public string User { get; } = user;
        public string CsrfToken { get; } = csrf;
        public DateTimeOffset LastSeen { get; set; } = lastSeen;
    }

    public (string Id, Session Session) Create(string user)
    {
        Prune();
        var id = NewToken();
        var session = new Session(user, NewToken(), time.GetUtcNow());
        _sessions[id] = session;
        return (id, session);
    }

    /// <summary>The live session for a cookie value (its idle time restarts), or null.</summary>
    public Session? Find(string? id)
    {
        if (id is null || !_sessions.TryGetValue(id, out var s)) return null;
        var now = time.GetUtcNow();
        if (now - s.LastSeen > idle)
        {
            _sessions.TryRemove(id, out _);
            return null;
        }
        s.LastSeen = now;
        return s;
    }

    public void End(string? id)
    {
        if (id is not null) _sessions.TryRemove(id, out _);
    }

    public static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Constant-time: the time taken says nothing about how much of a guessed token was right.</summary>
    public static bool SameToken(string? expected, string? given) =>
        expected is not null && given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(given));

    private void Prune()
    {
        var cutoff = time.GetUtcNow() - idle;
        foreach (var (id, s) in _sessions)
            if (s.LastSeen < cutoff) _sessions.TryRemove(id, out _);
    }
}
