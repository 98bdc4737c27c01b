using System.Globalization;
using Mail.Core.Ports;

namespace Mail.Pop3.Session;

/// <summary>
/// The user's INBOX as it was at login (RFC 1939 section 4: messages arriving during the session are not shown),
/// numbered from 1, with the session's deletion marks. Nothing here touches the store: DELE only marks, and the marks
/// become an expunge in the UPDATE state at QUIT.
/// </summary>
internal sealed class Maildrop(long uidValidity, IReadOnlyList<MessageRecord> messages)
{
    private readonly bool[] _deleted = new bool[messages.Count];
    private readonly bool[] _retrieved = new bool[messages.Count];

    public const string Mailbox = "INBOX";

    /// <summary>Messages not marked deleted.</summary>
    public int Count => messages.Count - _deleted.Count(d => d);

    public long Octets => Live.Sum(n => messages[n - 1].Size);

    /// <summary>Message numbers not marked deleted, ascending.</summary>
    public IEnumerable<int> Live => Enumerable.Range(1, messages.Count).Where(n => !_deleted[n - 1]);

    public bool Exists(int number) => number >= 1 && number <= messages.Count;

    public bool IsDeleted(int number) => _deleted[number - 1];

    public MessageRecord this[int number] => messages[number - 1];

    public void Delete(int number) => _deleted[number - 1] = true;

    public void MarkRetrieved(int number) => _retrieved[number - 1] = true;

    public void Reset() => Array.Clear(_deleted);

    /// <summary>UIDs of the messages marked deleted: what QUIT expunges.</summary>
    public IReadOnlyList<long> DeletedUids => [.. Enumerable.Range(0, messages.Count).Where(i => _deleted[i]).Select(i => messages[i].Uid)];

    /// <summary>UIDs of messages retrieved whole (RETR) and kept: they get \Seen at QUIT.</summary>
    public IReadOnlyList<long> RetrievedUids => [.. Enumerable.Range(0, messages.Count).Where(i => _retrieved[i] && !_deleted[i] && !messages[i].Flags.Contains(MessageFlags.Seen)).Select(i => messages[i].Uid)];

    /// <summary>
    /// The unique-id (RFC 1939 section 7): the IMAP UID and UIDVALIDITY in Dovecot's default pop3_uidl_format
    /// "%08Xu%08Xv", so it never changes while the message stays in INBOX, and it is the id a Dovecot server would have
    /// given the same UID and UIDVALIDITY.
    /// </summary>
    public string UniqueId(int number) => string.Create(CultureInfo.InvariantCulture, $"{messages[number - 1].Uid:X8}{uidValidity:X8}");
}
