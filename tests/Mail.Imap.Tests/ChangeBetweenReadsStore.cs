using Mail.Core.Ports;

namespace Mail.Imap.Tests;

/// <summary>
/// The real mailbox store with two seams. A change armed by the test runs once, right before the next expunge-log
/// read, so it lands between the reads of one command (SELECT ... QRESYNC reads the mailbox and its message list,
/// then the log). Under load another session's commit lands there by chance; here it always does. And mailbox
/// lookups can be made to fail, as a store that lost its database would: the server's handling of a fault outside
/// a command's own work (the refresh after it) is seen.
/// </summary>
internal sealed class ChangeBetweenReadsStore(IMailboxStore inner) : IMailboxStore
{
    private Func<Task>? _beforeExpungeLogRead;

    /// <summary>Runs <paramref name="change"/> once, before the next <see cref="ListExpungedAsync"/> reads.</summary>
    public void BeforeNextExpungeLogRead(Func<Task> change) => _beforeExpungeLogRead = change;

    public async Task<IReadOnlyList<long>> ListExpungedAsync(string user, string mailbox, long sinceModSeq, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _beforeExpungeLogRead, null) is { } change) await change();
        return await inner.ListExpungedAsync(user, mailbox, sinceModSeq, cancellationToken);
    }

    /// <summary>While set, <see cref="GetMailboxAsync"/> throws.</summary>
    public bool FailMailboxLookups { get; set; }

    public Task<MailboxInfo?> GetMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default) =>
        FailMailboxLookups ? throw new InvalidOperationException("mailbox store unavailable (test)") : inner.GetMailboxAsync(user, mailbox, cancellationToken);

    public Task EnsureUserMailboxesAsync(string user, CancellationToken cancellationToken = default) => inner.EnsureUserMailboxesAsync(user, cancellationToken);
    public Task<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(string user, CancellationToken cancellationToken = default) => inner.ListMailboxesAsync(user, cancellationToken);
    public Task<MailboxInfo> CreateMailboxAsync(string user, string mailbox, string? specialUse = null, CancellationToken cancellationToken = default) => inner.CreateMailboxAsync(user, mailbox, specialUse, cancellationToken);
    public Task DeleteMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default) => inner.DeleteMailboxAsync(user, mailbox, cancellationToken);
    public Task RenameMailboxAsync(string user, string oldName, string newName, CancellationToken cancellationToken = default) => inner.RenameMailboxAsync(user, oldName, newName, cancellationToken);
    public Task SetSubscribedAsync(string user, string mailbox, bool subscribed, CancellationToken cancellationToken = default) => inner.SetSubscribedAsync(user, mailbox, subscribed, cancellationToken);
    public Task<IReadOnlyList<string>> ListSubscriptionsAsync(string user, CancellationToken cancellationToken = default) => inner.ListSubscriptionsAsync(user, cancellationToken);
    public Task<AppendResult> AppendAsync(string user, string mailbox, NewMessage message, CancellationToken cancellationToken = default) => inner.AppendAsync(user, mailbox, message, cancellationToken);
    public Task<IReadOnlyList<AppendResult>> AppendAllAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends, CancellationToken cancellationToken = default) => inner.AppendAllAsync(user, appends, cancellationToken);
    public Task<IReadOnlyList<MessageRecord>> ListMessagesAsync(string user, string mailbox, long? changedSince = null, CancellationToken cancellationToken = default) => inner.ListMessagesAsync(user, mailbox, changedSince, cancellationToken);
    public Task<StoreResult> StoreFlagsAsync(string user, string mailbox, IReadOnlyCollection<long> uids, FlagChange change, IReadOnlyCollection<string> flags, long? unchangedSince = null, CancellationToken cancellationToken = default) => inner.StoreFlagsAsync(user, mailbox, uids, change, flags, unchangedSince, cancellationToken);
    public Task<IReadOnlyList<long>> ExpungeAsync(string user, string mailbox, IReadOnlyCollection<long>? uids = null, CancellationToken cancellationToken = default) => inner.ExpungeAsync(user, mailbox, uids, cancellationToken);
    public Task<CopyResult> CopyAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) => inner.CopyAsync(user, source, uids, destination, cancellationToken);
    public Task<CopyResult> MoveAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) => inner.MoveAsync(user, source, uids, destination, cancellationToken);
    public Task<long> GetUsageAsync(string user, CancellationToken cancellationToken = default) => inner.GetUsageAsync(user, cancellationToken);
}
