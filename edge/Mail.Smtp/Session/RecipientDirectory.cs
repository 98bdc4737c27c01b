using Mail.Core.Caching;
using Mail.Core.Accounts;

namespace Mail.Smtp.Session;

/// <summary>
/// "Is this one of our domains? where does this address go?" for RCPT TO, answered from memory for <c>Smtp:DirectoryCacheTtl</c>
/// after the directory was asked, like Postfix's in-memory copy of its virtual tables. Every message asks both
/// questions, and at thousands of messages a second the lookups were a tenth of the edge's CPU. A user, alias or domain
/// added (or removed) takes effect within the TTL. Bounded: a client guessing random addresses cannot grow it without limit.
/// </summary>
internal sealed class RecipientDirectory(MailDirectory directory, TimeSpan ttl, TimeProvider time)
{
    private const int MaxEntries = 50_000;

    private readonly ClearingCache<string, Answer<bool>> _domains = new(MaxEntries, StringComparer.Ordinal);
    private readonly ClearingCache<string, Answer<Resolution>> _addresses = new(MaxEntries, StringComparer.Ordinal);

    public ValueTask<bool> IsLocalDomainAsync(string domain) =>
        LookupAsync(_domains, domain, static (d, key) => d.IsLocalDomainAsync(key));

    /// <summary>Where an address of a local domain goes: a user's own, a subaddress (alice+lists@), postmaster@/abuse@,
    /// an alias or catch-all, an SRS address of ours; or unknown, an alias loop, a bad SRS address
    /// (<see cref="MailDirectory.ResolveAsync"/>).</summary>
    public ValueTask<Resolution> ResolveAsync(string address) =>
        LookupAsync(_addresses, address, static (d, key) => d.ResolveAsync(key));

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
