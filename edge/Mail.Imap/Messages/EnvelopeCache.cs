using Mail.Core.Caching;

namespace Mail.Imap.Messages;

/// <summary>
/// Formatted ENVELOPEs by message reference. Stored messages are immutable (a reference never names other
/// content), so an entry never goes stale; COPY/MOVE keep the reference, so copies share it. Bounded: once
/// full, the cache is emptied and fills again (cheap, no bookkeeping per hit; a mailbox sync refills it).
/// Mailbox names are not in an ENVELOPE, but 8-bit header text is rendered differently for UTF-8 clients,
/// hence the two key spaces.
/// </summary>
internal sealed class EnvelopeCache(int maxEntries)
{
    private readonly ClearingCache<string, string> _entries = new(maxEntries, StringComparer.Ordinal);

    public int Count => _entries.Count;

    public bool TryGet(string messageRef, bool utf8, out string envelope) =>
        _entries.TryGetValue(Key(messageRef, utf8), out envelope!);

    public void Add(string messageRef, bool utf8, string envelope) => _entries.Set(Key(messageRef, utf8), envelope);

    /// <summary>The key of an entry, also used by <see cref="Session.MailboxCacheFile"/>.</summary>
    public static string Key(string messageRef, bool utf8) => (utf8 ? "u:" : "a:") + messageRef; // fixed-length prefix: unambiguous, and no NUL in SQLite text
}
