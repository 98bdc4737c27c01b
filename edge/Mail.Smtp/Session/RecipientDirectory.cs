using Mail.Core.Caching;
using Mail.Core.Accounts;

namespace Mail.Smtp.Session;

/// <summary>
/// "Is this one of our domains? does this address reach one of our users?" for RCPT TO, answered from memory for <c>Smtp:DirectoryCacheTtl</c>
/// after the directory was asked, like Postfix's in-memory copy of its virtual tables. Every message asks both
/// questions, and at thousands of messages a second the lookups were a tenth of the edge's CPU. A user or domain added
/// (or removed) takes effect within the TTL. Bounded: a client guessing random addresses cannot grow it without limit.
/// </summary>
internal sealed class RecipientDirectory(MailDirectory directory, TimeSpan ttl, TimeProvider time)
{
    private const int MaxEntries = 50_000;

    private readonly ClearingCache<string, Answer<bool>> _domains = new(MaxEntries, StringComparer.Ordinal);
    private readonly ClearingCache<string, Answer<string?>> _users = new(MaxEntries, StringComparer.Ordinal);

    public ValueTask<bool> IsLocalDomainAsync(string domain) =>
        LookupAsync(_domains, domain, static (d, key) => d.IsLocalDomainAsync(key));

    /// <summary>Whether the address reaches a user: the user's own, a subaddress (alice+lists@) or postmaster@/abuse@
    /// (<see cref="MailDirectory.ResolveAsync"/>).</summary>
    public async ValueTask<bool> IsDeliverableAsync(string address) => await ResolveAsync(address) is not null;

    /// <summary>The user whose mailbox the address reaches, or null (<see cref="MailDirectory.ResolveAsync"/>): the quota
    /// check at RCPT asks about that user, not the address.</summary>
    public ValueTask<string?> ResolveAsync(string address) =>
        LookupAsync(_users, address, static (d, key) => d.ResolveAsync(key));

    private async ValueTask<T> LookupAsync<T>(ClearingCache<string, Answer<T>> cache, string key, Func<MailDirectory, string, Task<T>> ask)
    {
        if (ttl <= TimeSpan.Zero) return await ask(directory, key);
        var now = time.GetTimestamp();
        if (cache.TryGetValue(key, out var cached) && now < cached.ExpiresAt) return cached.Value;
        var value = await ask(directory, key);
        cache.Set(key, new Answer<T>(value, now + (long)(ttl.TotalSeconds * time.TimestampFrequency)));
        return value;
    }

    private readonly record struct Answer<T>(T Value, long ExpiresAt);
}
