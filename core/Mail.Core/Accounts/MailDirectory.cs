using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Core.Accounts;

/// <summary>
/// Which domains are ours and which users exist in them, kept in the state store so the edge,
/// the pipeline and the IMAP gateway agree, embedded or in the cloud.
/// A user is named by the canonical address "local@domain" (local part lower-cased: local parts are
/// case-sensitive by RFC 5321 but treating them so only loses mail).
/// </summary>
/// <param name="authCache">Successful logins remembered (Auth:CacheTtl); null checks every password with the slow hash.
/// One per process, shared by SMTP AUTH and IMAP through <see cref="AuthenticateAsync"/>.</param>
public sealed class MailDirectory(IStateStore state, int passwordIterations = PasswordHasher.DefaultIterations, AuthCache? authCache = null)
{
    /// <summary>The login cache, or null when off.</summary>
    public AuthCache? AuthCache => authCache;

    private const string DomainPartition = "domain";
    private const string UserPartition = "user";

    public async Task AddDomainAsync(string domain, CancellationToken cancellationToken = default)
    {
        var d = Address.NormalizeDomain(domain) ?? throw new ArgumentException($"Not a valid domain: {domain}", nameof(domain));
        await state.PutAsync(DomainPartition, d, "{}", cancellationToken: cancellationToken);
    }

    public async Task<bool> IsLocalDomainAsync(string domain, CancellationToken cancellationToken = default)
    {
        var d = Address.NormalizeDomain(domain);
        return d is not null && await state.GetAsync(DomainPartition, d, cancellationToken) is not null;
    }

    public async Task<IReadOnlyList<string>> ListDomainsAsync(CancellationToken cancellationToken = default)
    {
        var list = new List<string>();
        await foreach (var e in state.ListAsync(DomainPartition, cancellationToken)) list.Add(e.Key);
        return list;
    }

    /// <summary>Adds or replaces a user. The domain must already be local.</summary>
    public async Task<string> SetUserAsync(string address, string password, CancellationToken cancellationToken = default)
    {
        var user = Canonical(address) ?? throw new ArgumentException($"Not a valid address: {address}", nameof(address));
        var domain = user[(user.LastIndexOf('@') + 1)..];
        if (!await IsLocalDomainAsync(domain, cancellationToken))
            throw new InvalidOperationException($"Domain {domain} is not a local domain; add it first.");
        return await PutUserAsync(user, PasswordHasher.Hash(password, passwordIterations), cancellationToken);
    }

    /// <summary>
    /// Adds or replaces a user with a password hash brought from elsewhere (a Dovecot or Postfix passwd-file's
    /// "{SHA512-CRYPT}$6$..."), stored as given once <see cref="PasswordHasher.Validate"/> accepts it: the user keeps
    /// the password without anyone knowing it. Throws <see cref="ArgumentException"/> for a bad address or hash.
    /// </summary>
    public async Task<string> SetUserPasswordHashAsync(string address, string passwordHash, CancellationToken cancellationToken = default)
    {
        var user = Canonical(address) ?? throw new ArgumentException($"Not a valid address: {address}", nameof(address));
        var hash = passwordHash.Trim();
        if (PasswordHasher.Validate(hash) is { } why) throw new ArgumentException(why, nameof(passwordHash));
        return await PutUserAsync(user, hash, cancellationToken);
    }

    private async Task<string> PutUserAsync(string user, string passwordHash, CancellationToken cancellationToken)
    {
        var domain = user[(user.LastIndexOf('@') + 1)..];
        if (!await IsLocalDomainAsync(domain, cancellationToken))
            throw new InvalidOperationException($"Domain {domain} is not a local domain; add it first.");
        var record = JsonSerializer.Serialize(new UserRecord(passwordHash), AccountsJson.Default.UserRecord);
        await state.PutAsync(UserPartition, user, record, cancellationToken: cancellationToken);
        return user;
    }

    public async Task<bool> UserExistsAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = Canonical(address);
        return user is not null && await state.GetAsync(UserPartition, user, cancellationToken) is not null;
    }

    /// <summary>What a recipient address of ours and of an address parameter both follow: see <see cref="RecipientRules"/>.</summary>
    public RecipientRules Recipients { get; init; } = RecipientRules.Default;

    /// <summary>
    /// The user whose mailbox a recipient address reaches, or null: the user of that name; else, in a local domain,
    /// the user named by the part before the recipient delimiter (alice+lists@ is alice@); else, for postmaster@ and
    /// abuse@ (with or without a detail), the postmaster (<see cref="PostmasterAsync"/>).
    /// </summary>
    public async Task<string?> ResolveAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = Canonical(address);
        if (user is null) return null;
        if (await state.GetAsync(UserPartition, user, cancellationToken) is not null) return user;
        var at = user.LastIndexOf('@');
        var (local, domain) = (user[..at], user[(at + 1)..]);
        if (!await IsLocalDomainAsync(domain, cancellationToken)) return null;
        var baseLocal = Recipients.BaseLocalPart(local);
        if (baseLocal.Length != local.Length && await state.GetAsync(UserPartition, $"{baseLocal}@{domain}", cancellationToken) is not null)
            return $"{baseLocal}@{domain}";
        return RecipientRules.RoleLocalParts.Contains(baseLocal) ? await PostmasterAsync(domain, cancellationToken) : null;
    }

    /// <summary>Who gets a local domain's postmaster@ and abuse@ mail: <see cref="RecipientRules.PostmasterAddress"/>
    /// when it is set and a user, else the domain's first user in address order; null when the domain has none.</summary>
    public async Task<string?> PostmasterAsync(string domain, CancellationToken cancellationToken = default)
    {
        if (Recipients.PostmasterAddress is { } configured && Canonical(configured) is { } admin
            && await state.GetAsync(UserPartition, admin, cancellationToken) is not null)
            return admin;
        var suffix = "@" + (Address.NormalizeDomain(domain) ?? domain);
        string? first = null;
        await foreach (var e in state.ListAsync(UserPartition, cancellationToken))
            if (e.Key.EndsWith(suffix, StringComparison.Ordinal) && (first is null || string.CompareOrdinal(e.Key, first) < 0)) first = e.Key;
        return first;
    }

    /// <summary>Returns the canonical user name when the password is right, else null. Every login (SMTP AUTH, IMAP)
    /// comes here: the login cache answers when it holds this password for the credential stored now, else the slow
    /// hash is checked and a success remembered.</summary>
    public async Task<string?> AuthenticateAsync(string address, string password, CancellationToken cancellationToken = default)
    {
        // Read BEFORE the slow check: if the password changes in between, the entry is added against the old hash
        // and never matches the new record.
        if (await GetCredentialAsync(address, cancellationToken) is not { } c) return null;
        if (authCache is not null && authCache.Matches(c.User, password, c.PasswordHash)) return c.User;
        if (!PasswordHasher.Verify(password, c.PasswordHash)) return null;
        authCache?.Add(c.User, password, c.PasswordHash);
        return c.User;
    }

    /// <summary>What a login checks: the canonical user and the stored hash (which changes with every password change,
    /// being salted, so a login cache keyed on it forgets old passwords). Null for no such user or an unreadable record.</summary>
    public async Task<Credential?> GetCredentialAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = Canonical(address);
        if (user is null) return null;
        var entry = await state.GetAsync(UserPartition, user, cancellationToken);
        if (entry is null) return null;
        UserRecord? record;
        try
        {
            record = JsonSerializer.Deserialize(entry.Value, AccountsJson.Default.UserRecord);
        }
        catch (JsonException)
        {
            return null;
        }
        return record?.PasswordHash is { Length: > 0 } hash ? new Credential(user, hash) : null;
    }

    /// <summary>What a server does once when it starts, as Dovecot's auth process does, so its first login does not
    /// pay for it: a first read of the directory (the store's connection is opened and its schema loaded), the user
    /// record's parser, and the native hash providers that password checks use. It reads one record, not the whole
    /// directory: a large one in Table storage would otherwise be a full scan at every start.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken = default)
    {
        _ = AccountsJson.Default.UserRecord;
        PasswordHasher.LoadProviders();
        await foreach (var _ in state.ListAsync(UserPartition, cancellationToken)) break;
    }

    public async Task<IReadOnlyList<string>> ListUsersAsync(CancellationToken cancellationToken = default)
    {
        var list = new List<string>();
        await foreach (var e in state.ListAsync(UserPartition, cancellationToken)) list.Add(e.Key);
        return list;
    }

    /// <summary>"Local@Example.COM." becomes "local@example.com"; null when not an address.</summary>
    public static string? Canonical(string address) =>
        Address.TryParse(address, out var a) ? $"{a.LocalPart.ToLowerInvariant()}@{a.Domain}" : null;

    internal sealed record UserRecord(string PasswordHash);
}

/// <summary>A user's stored credential (see <see cref="MailDirectory.GetCredentialAsync"/>).</summary>
public sealed record Credential(string User, string PasswordHash);

/// <summary>Compile-time JSON for user records: the reflection serializer's first use cost a cold login 25-30 ms.</summary>
[JsonSerializable(typeof(MailDirectory.UserRecord))]
internal sealed partial class AccountsJson : JsonSerializerContext;
