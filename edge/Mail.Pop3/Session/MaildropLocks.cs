using System.Collections.Concurrent;

namespace Mail.Pop3.Session;

/// <summary>RFC 1939 section 4's exclusive-access lock on a maildrop, held from login to the end of the session
/// (Dovecot pop3_lock_session). In-process: each gateway instance keeps its own.</summary>
internal sealed class MaildropLocks
{
    private readonly ConcurrentDictionary<string, byte> _held = new(StringComparer.Ordinal);

    public bool TryEnter(string user) => _held.TryAdd(user, 0);

    public void Exit(string user) => _held.TryRemove(user, out _);
}
