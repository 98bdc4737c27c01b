using Mail.Core.Ports;

namespace Mail.Storage.Contracts;

/// <summary>A real <see cref="IMailboxStore"/> passed through, for tests that put a seam (a fault, a change made at a
/// chosen moment) in front of a few of its methods: they override those.</summary>
public abstract class MailboxStoreDecorator(IMailboxStore inner) : IMailboxStore
{
    protected IMailboxStore Inner { get; } = inner;

    public virtual Task EnsureUserMailboxesAsync(string user, CancellationToken cancellationToken = default) => Inner.EnsureUserMailboxesAsync(user, cancellationToken);
    public virtual Task<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(string user, CancellationToken cancellationToken = default) => Inner.ListMailboxesAsync(user, cancellationToken);
    public virtual Task<MailboxInfo?> GetMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default) => Inner.GetMailboxAsync(user, mailbox, cancellationToken);
    public virtual Task<MailboxInfo> CreateMailboxAsync(string user, string mailbox, string? specialUse = null, CancellationToken cancellationToken = default) => Inner.CreateMailboxAsync(user, mailbox, specialUse, cancellationToken);
    public virtual Task DeleteMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default) => Inner.DeleteMailboxAsync(user, mailbox, cancellationToken);
    public virtual Task RenameMailboxAsync(string user, string oldName, string newName, CancellationToken cancellationToken = default) => Inner.RenameMailboxAsync(user, oldName, newName, cancellationToken);
    public virtual Task SetSubscribedAsync(string user, string mailbox, bool subscribed, CancellationToken cancellationToken = default) => Inner.SetSubscribedAsync(user, mailbox, subscribed, cancellationToken);
    public virtual Task<IReadOnlyList<string>> ListSubscriptionsAsync(string user, CancellationToken cancellationToken = default) => Inner.ListSubscriptionsAsync(user, cancellationToken);
    public virtual Task<AppendResult> AppendAsync(string user, string mailbox, NewMessage message, CancellationToken cancellationToken = default) => Inner.AppendAsync(user, mailbox, message, cancellationToken);
    public virtual Task<IReadOnlyList<AppendResult>> AppendAllAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends, CancellationToken cancellationToken = default) => Inner.AppendAllAsync(user, appends, cancellationToken);
    public virtual Task<IReadOnlyList<MessageRecord>> ListMessagesAsync(string user, string mailbox, long? changedSince = null, CancellationToken cancellationToken = default) => Inner.ListMessagesAsync(user, mailbox, changedSince, cancellationToken);
    public virtual Task<StoreResult> StoreFlagsAsync(string user, string mailbox, IReadOnlyCollection<long> uids, FlagChange change, IReadOnlyCollection<string> flags, long? unchangedSince = null, CancellationToken cancellationToken = default) => Inner.StoreFlagsAsync(user, mailbox, uids, change, flags, unchangedSince, cancellationToken);
    public virtual Task<IReadOnlyList<long>> ExpungeAsync(string user, string mailbox, IReadOnlyCollection<long>? uids = null, CancellationToken cancellationToken = default) => Inner.ExpungeAsync(user, mailbox, uids, cancellationToken);
    public virtual Task<CopyResult> CopyAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) => Inner.CopyAsync(user, source, uids, destination, cancellationToken);
    public virtual Task<CopyResult> MoveAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) => Inner.MoveAsync(user, source, uids, destination, cancellationToken);
    public virtual Task<IReadOnlyList<long>> ListExpungedAsync(string user, string mailbox, long sinceModSeq, CancellationToken cancellationToken = default) => Inner.ListExpungedAsync(user, mailbox, sinceModSeq, cancellationToken);
    public virtual Task<long> GetUsageAsync(string user, CancellationToken cancellationToken = default) => Inner.GetUsageAsync(user, cancellationToken);
}
