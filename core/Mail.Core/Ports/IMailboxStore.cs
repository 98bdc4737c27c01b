namespace Mail.Core.Ports;

/// <summary>
/// Mailboxes and their message indexes, shaped for IMAP (RFC 9051, RFC 7162 CONDSTORE, RFC 4315 UIDPLUS):
/// each mailbox has a UIDVALIDITY, a UIDNEXT and a HIGHESTMODSEQ; each message a UID that is never reused,
/// flags, an internal date, a size and the MODSEQ of its last change. The raw bytes live in the
/// <see cref="IMessageStore"/>; a record only references them.
/// Users are addressed by their canonical login (lower-case "local@domain").
/// Mailbox names use '/' as the hierarchy delimiter; "INBOX" is case-insensitive.
/// Embedded: SQLite. Cloud: Azure Table storage.
/// </summary>
public interface IMailboxStore
{
    /// <summary>What a server does once when it starts, before it accepts a client, so that the first login, LIST
    /// and SELECT after a restart do not pay it (opening the store, preparing its reads and writes). Reads and
    /// changes nothing. A store with nothing to open does nothing.</summary>
    Task OpenAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary>Creates the user's standard mailboxes when missing: INBOX, Sent, Drafts, Trash, Junk, Archive
    /// with their SPECIAL-USE attributes (RFC 6154), and subscribes each one it creates. Idempotent.</summary>
    Task EnsureUserMailboxesAsync(string user, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(string user, CancellationToken cancellationToken = default);

    /// <summary>Null when the mailbox does not exist.</summary>
    Task<MailboxInfo?> GetMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default);

    /// <summary>Creates a mailbox with a fresh UIDVALIDITY. Throws <see cref="MailboxExistsException"/> when it exists.</summary>
    Task<MailboxInfo> CreateMailboxAsync(string user, string mailbox, string? specialUse = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes a mailbox and its message records, and, in a store given the message store, the raw messages no
    /// other record references (after the records are gone). Throws <see cref="MailboxNotFoundException"/>.</summary>
    Task DeleteMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default);

    /// <summary>Renames a mailbox and its children. Renaming INBOX moves its messages to the new mailbox (RFC 9051 6.3.6).</summary>
    Task RenameMailboxAsync(string user, string oldName, string newName, CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds a name to, or removes it from, the user's subscriptions (RFC 9051 6.3.7/6.3.8, RFC 3501 6.3.6/6.3.7).
    /// Subscriptions are a list of names kept apart from the mailboxes: the name need not exist, CREATE does not
    /// subscribe and DELETE does not unsubscribe. RENAME moves the subscriptions of the mailbox and its children
    /// to the new names. Idempotent.
    /// </summary>
    Task SetSubscribedAsync(string user, string mailbox, bool subscribed, CancellationToken cancellationToken = default);

    /// <summary>The user's subscribed names (existing mailboxes or not), in ordinal order.</summary>
    Task<IReadOnlyList<string>> ListSubscriptionsAsync(string user, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends one message and assigns it the mailbox's next UID. Idempotent on <see cref="NewMessage.DeliveryKey"/>:
    /// appending a key that is already present returns the existing record with <see cref="AppendResult.AlreadyPresent"/> set.
    /// Safe under concurrent appenders to the same mailbox (UIDs stay unique and increasing).
    /// </summary>
    Task<AppendResult> AppendAsync(string user, string mailbox, NewMessage message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends several rows of one user at once, all or none, each as <see cref="AppendAsync"/> would (its own UID and
    /// delivery key; a key already present gives that row's <see cref="AppendResult.AlreadyPresent"/> result); results in
    /// the order given. For one delivery filing one message in several mailboxes: appended one after the other, an
    /// EXPUNGE of the first row in between would find the message referenced by no row and delete it before the next
    /// row names it. Here an EXPUNGE sees all the rows or none. Throws <see cref="MailboxNotFoundException"/> (nothing
    /// appended) when a mailbox does not exist.
    /// </summary>
    Task<IReadOnlyList<AppendResult>> AppendAllAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends, CancellationToken cancellationToken = default);

    /// <summary>Message records in UID order. With <paramref name="changedSince"/>, only those whose MODSEQ is greater.</summary>
    Task<IReadOnlyList<MessageRecord>> ListMessagesAsync(string user, string mailbox, long? changedSince = null, CancellationToken cancellationToken = default);

    /// <summary>Changes flags on the given UIDs, giving each changed message a new MODSEQ.
    /// With <paramref name="unchangedSince"/> (CONDSTORE), messages whose MODSEQ is greater are left alone and reported as failed.</summary>
    Task<StoreResult> StoreFlagsAsync(string user, string mailbox, IReadOnlyCollection<long> uids, FlagChange change, IReadOnlyCollection<string> flags, long? unchangedSince = null, CancellationToken cancellationToken = default);

    /// <summary>Removes messages flagged \Deleted (all of them, or only those among <paramref name="uids"/>); returns the removed UIDs.
    /// In a store given the message store, a raw message no record references any more (COPY shares them) is deleted
    /// once the removal is committed: a crash in between leaves it unreferenced, never a record without its message.</summary>
    Task<IReadOnlyList<long>> ExpungeAsync(string user, string mailbox, IReadOnlyCollection<long>? uids = null, CancellationToken cancellationToken = default);

    /// <summary>Copies messages to another mailbox of the same user; returns the UID mapping (COPYUID).</summary>
    Task<CopyResult> CopyAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default);

    /// <summary>Copy then expunge from the source, as one operation where the store allows (RFC 6851 MOVE).</summary>
    Task<CopyResult> MoveAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default);

    /// <summary>
    /// Octets of all the user's message records, in every mailbox, \Deleted ones included until expunged: the
    /// usage a quota counts (<see cref="Accounts.UserQuotas"/>). Kept by the store as each change is made (a sum over
    /// the mailbox rows), never counted by reading messages. Zero for a user without mailboxes.
    /// </summary>
    Task<long> GetUsageAsync(string user, CancellationToken cancellationToken = default);

    /// <summary>UIDs expunged from a mailbox with MODSEQ greater than <paramref name="sinceModSeq"/> (for QRESYNC/VANISHED and for IMAP sessions catching up).</summary>
    Task<IReadOnlyList<long>> ListExpungedAsync(string user, string mailbox, long sinceModSeq, CancellationToken cancellationToken = default);
}

public sealed record MailboxInfo(
    string User,
    string Name,
    long UidValidity,
    long UidNext,
    long HighestModSeq,
    string? SpecialUse,
    int MessageCount,
    int UnseenCount);

/// <param name="DeliveryKey">Idempotency key, e.g. "queueId/recipient"; null for IMAP APPEND (never deduplicated).</param>
public sealed record NewMessage(
    string MessageRef,
    long Size,
    DateTimeOffset InternalDate,
    IReadOnlyCollection<string> Flags,
    string? DeliveryKey);

public sealed record MessageRecord(
    long Uid,
    string MessageRef,
    long Size,
    DateTimeOffset InternalDate,
    IReadOnlyCollection<string> Flags,
    long ModSeq);

public sealed record AppendResult(MessageRecord Message, long UidValidity, bool AlreadyPresent);

public enum FlagChange { Replace, Add, Remove }

/// <param name="Changed">Records after the change, for untagged FETCH responses.</param>
/// <param name="Failed">UIDs refused by UNCHANGEDSINCE (the MODIFIED response code).</param>
public sealed record StoreResult(IReadOnlyList<MessageRecord> Changed, IReadOnlyList<long> Failed, long HighestModSeq);

/// <param name="UidMap">Source UID to destination UID.</param>
public sealed record CopyResult(long DestinationUidValidity, IReadOnlyList<(long SourceUid, long DestinationUid)> UidMap);

public class MailboxException(string message) : Exception(message);

public sealed class MailboxNotFoundException(string mailbox) : MailboxException($"Mailbox does not exist: {mailbox}");

public sealed class MailboxExistsException(string mailbox) : MailboxException($"Mailbox already exists: {mailbox}");

/// <summary>IMAP system flags and well-known names.</summary>
public static class MessageFlags
{
    public const string Seen = "\\Seen";
    public const string Answered = "\\Answered";
    public const string Flagged = "\\Flagged";
    public const string Deleted = "\\Deleted";
    public const string Draft = "\\Draft";
}

public static class SpecialUse
{
    public const string Sent = "\\Sent";
    public const string Drafts = "\\Drafts";
    public const string Trash = "\\Trash";
    public const string Junk = "\\Junk";
    public const string Archive = "\\Archive";

    /// <summary>The mailboxes every user gets, in LIST order.</summary>
    public static readonly IReadOnlyList<(string Name, string? Use)> Defaults =
    [
        ("INBOX", null), ("Sent", Sent), ("Drafts", Drafts), ("Trash", Trash), ("Junk", Junk), ("Archive", Archive),
    ];
}
