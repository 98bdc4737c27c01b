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
    private readonly RememberedAnswers<string, long?> _limits = new(ttl, time, StringComparer.Ordinal);

    /// <summary>The user's usage and limit, or null when they have no limit (nothing to check).</summary>
    public async ValueTask<QuotaUsage?> GetAsync(string user)
    {
        if (await _limits.GetAsync(quotas, user, static (q, key) => q.GetLimitAsync(key)) is not { } limit) return null;
        return new QuotaUsage(await quotas.GetUsedAsync(user), limit);
    }

    /// <summary>Drops every kept limit: one changed.</summary>
    public void Forget() => _limits.Forget();
}
