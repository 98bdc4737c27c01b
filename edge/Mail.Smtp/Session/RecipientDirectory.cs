using Mail.Core.Accounts;
using Mail.Core.Caching;

namespace Mail.Smtp.Session;

/// <summary>
/// "Is this one of our domains? where does this address go?" for RCPT TO, answered from memory for <c>Smtp:DirectoryCacheTtl</c>
/// after the directory was asked, like Postfix's in-memory copy of its virtual tables. Every message asks both
/// questions, and at thousands of messages a second the lookups were a tenth of the edge's CPU. A user, alias or domain
/// added (or removed) takes effect within the TTL, or at once when the server is told (<see cref="Forget"/>).
/// </summary>
internal sealed class RecipientDirectory(MailDirectory directory, TimeSpan ttl, TimeProvider time)
{
    private readonly RememberedAnswers<string, bool> _domains = new(ttl, time, StringComparer.Ordinal);
    private readonly RememberedAnswers<string, Resolution> _addresses = new(ttl, time, StringComparer.Ordinal);

    public ValueTask<bool> IsLocalDomainAsync(string domain) =>
        _domains.GetAsync(directory, domain, static (d, key) => d.IsLocalDomainAsync(key));

    /// <summary>Where an address of a local domain goes: a user's own, a subaddress (alice+lists@), postmaster@/abuse@,
    /// an alias or catch-all, an SRS address of ours; or unknown, an alias loop, a bad SRS address
    /// (<see cref="MailDirectory.ResolveAsync"/>).</summary>
    public ValueTask<Resolution> ResolveAsync(string address) =>
        _addresses.GetAsync(directory, address, static (d, key) => d.ResolveAsync(key));

    /// <summary>Drops every kept answer: a domain, user or alias changed.</summary>
    public void Forget()
    {
        _domains.Forget();
        _addresses.Forget();
    }
}
