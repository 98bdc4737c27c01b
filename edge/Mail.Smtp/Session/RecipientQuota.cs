using Mail.Core.Accounts;
using Mail.Core.Caching;

namespace Mail.Smtp.Session;

/// <summary>
/// The edge's view of users' storage quotas, what Postfix asks Dovecot's quota-status policy service
/// (<c>check_policy_service</c> in smtpd_recipient_restrictions): is this user's mailbox full, would a message of this
/// size fit? The edge never reads the mailbox store itself; it asks <see cref="UserQuotas"/>, the core's seam. Limits
/// are remembered for <c>Smtp:DirectoryCacheTtl</c> like the directory's answers (they change by an admin command);
/// the usage is asked every time, and only for a user with a limit, since every delivery changes it.
/// </summary>
internal sealed class RecipientQuota(UserQuotas quotas, TimeSpan ttl, TimeProvider time)
{
    private const int MaxEntries = 50_000;

    private readonly ClearingCache<string, Limit> _limits = new(MaxEntries, StringComparer.Ordinal);

    /// <summary>The user's usage and limit, or null when they have no limit (nothing to check).</summary>
    public async ValueTask<QuotaUsage?> GetAsync(string user)
    {
        if (await LimitAsync(user) is not { } limit) return null;
        return new QuotaUsage(await quotas.GetUsedAsync(user), limit);
    }

    private async ValueTask<long?> LimitAsync(string user)
    {
        if (ttl <= TimeSpan.Zero) return await quotas.GetLimitAsync(user);
        var now = time.GetTimestamp();
        if (_limits.TryGetValue(user, out var cached) && now < cached.ExpiresAt) return cached.Value;
        var value = await quotas.GetLimitAsync(user);
        _limits.Set(user, new Limit(value, now + (long)(ttl.TotalSeconds * time.TimestampFrequency)));
        return value;
    }

    private readonly record struct Limit(long? Value, long ExpiresAt);
}
