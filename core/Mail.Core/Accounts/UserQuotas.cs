using System.Globalization;
using Mail.Core.Ports;

namespace Mail.Core.Accounts;

/// <summary>
/// Per-user storage limits and usage: what Dovecot's quota plugin (<c>quota_rule = *:storage=SIZE</c>, a per-user
/// override from the userdb) and its <c>quota-status</c> policy service answer. One quota root per user, named ""
/// (RFC 9208), holding all of the user's mailboxes; one resource, STORAGE: the octets of every message record,
/// those flagged \Deleted included until they are expunged.
/// <para>The limit lives in the state store (partition <c>quota</c>, keyed by the canonical user), so the edge, the
/// inbound stage, the IMAP gateway and the CLI see the same value in both hostings; it is kept apart from the user
/// record so that changing a password never touches it. The usage is the mailbox store's kept sum
/// (<see cref="IMailboxStore.GetUsageAsync"/>), never a read of the messages.</para>
/// </summary>
/// <param name="defaultLimit">Quota:Default, the limit of a user who has none of their own; null: unlimited.</param>
public sealed class UserQuotas(IStateStore state, IMailboxStore mailboxes, long? defaultLimit = null)
{
    private const string Partition = DirectoryPartitions.Quota;

    /// <summary>What a user's own entry holds when an administrator set "none" against a default limit.</summary>
    private const string Unlimited = "0";

    public long? DefaultLimit => defaultLimit;

    /// <summary>Sets the user's own limit; null records "unlimited", which also overrides Quota:Default.</summary>
    public Task SetLimitAsync(string user, long? limit, CancellationToken cancellationToken = default) =>
        state.PutAsync(Partition, user, limit is { } l and > 0 ? l.ToString(CultureInfo.InvariantCulture) : Unlimited, cancellationToken: cancellationToken);

    /// <summary>Forgets the user's own limit: Quota:Default applies again.</summary>
    public Task ClearLimitAsync(string user, CancellationToken cancellationToken = default) =>
        state.DeleteAsync(Partition, user, cancellationToken);

    /// <summary>The user's limit in octets (their own, else the default); null for none.</summary>
    public async Task<long?> GetLimitAsync(string user, CancellationToken cancellationToken = default)
    {
        var own = await state.GetAsync(Partition, user, cancellationToken);
        if (own is null) return defaultLimit;
        return long.TryParse(own.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit > 0 ? limit : null;
    }

    /// <summary>The user's usage and limit. The usage is read whether or not there is a limit (GETQUOTA, the CLI).</summary>
    public async Task<QuotaUsage> GetAsync(string user, CancellationToken cancellationToken = default)
    {
        var limit = await GetLimitAsync(user, cancellationToken);
        return new QuotaUsage(await mailboxes.GetUsageAsync(user, cancellationToken), limit);
    }

    /// <summary>The user's usage alone, for a caller that keeps the limit itself (the SMTP edge caches limits).</summary>
    public Task<long> GetUsedAsync(string user, CancellationToken cancellationToken = default) =>
        mailboxes.GetUsageAsync(user, cancellationToken);

    /// <summary>The usage only when the user has a limit, else null: the cheap question of the SMTP edge and the
    /// inbound stage, which need not know the usage of a user nothing can fill.</summary>
    public async Task<QuotaUsage?> GetLimitedAsync(string user, CancellationToken cancellationToken = default)
    {
        if (await GetLimitAsync(user, cancellationToken) is not { } limit) return null;
        return new QuotaUsage(await mailboxes.GetUsageAsync(user, cancellationToken), limit);
    }
}

/// <summary>A user's storage in octets and their limit (null: none).</summary>
public readonly record struct QuotaUsage(long Used, long? Limit)
{
    /// <summary>Whether <paramref name="size"/> more octets stay within the limit (Dovecot refuses a message that
    /// would take the usage over it, not one that would reach it exactly).</summary>
    public bool Fits(long size) => Limit is not { } limit || Used + size <= limit;

    /// <summary>At or over the limit: the mailbox is full (what Dovecot's quota-status answers at RCPT without a SIZE).</summary>
    public bool IsFull => Limit is { } limit && Used >= limit;

    /// <summary>RFC 9208 counts STORAGE in units of 1024 octets, rounded up so a used octet never shows as free.</summary>
    public static long Kibibytes(long octets) => (octets + 1023) / 1024;
}
