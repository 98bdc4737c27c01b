using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Core.Forwarding;
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

    private const string DomainPartition = DirectoryPartitions.Domain;
    private const string UserPartition = DirectoryPartitions.User;

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

    /// <summary>Whether the user may sign in to the web console (<c>mail user admin ADDRESS on|off</c>). False for no such user.</summary>
    public async Task<bool> IsAdminAsync(string address, CancellationToken cancellationToken = default) =>
        await ReadUserAsync(address, cancellationToken) is { Record.Admin: true };

    /// <summary>Grants or withdraws the console role; false when there is no such user.</summary>
    public async Task<bool> SetAdminAsync(string address, bool admin, CancellationToken cancellationToken = default)
    {
        if (await ReadUserAsync(address, cancellationToken) is not { } u) return false;
        await state.PutAsync(UserPartition, u.User, JsonSerializer.Serialize(u.Record with { Admin = admin }, AccountsJson.Default.UserRecord), cancellationToken: cancellationToken);
        return true;
    }

    /// <summary>Removes a user's login (not their mail: the mailboxes stay until deleted). False when there was none.</summary>
    public async Task<bool> RemoveUserAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = Canonical(address);
        if (user is null || await state.GetAsync(UserPartition, user, cancellationToken) is null) return false;
        await state.DeleteAsync(UserPartition, user, cancellationToken);
        return true;
    }

    private async Task<(string User, UserRecord Record)?> ReadUserAsync(string address, CancellationToken cancellationToken)
    {
        var user = Canonical(address);
        if (user is null || await state.GetAsync(UserPartition, user, cancellationToken) is not { } entry) return null;
        try
        {
            return JsonSerializer.Deserialize(entry.Value, AccountsJson.Default.UserRecord) is { } r ? (user, r) : null;
        }
        catch (JsonException)
        {
            return null;
        }
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
        // A new password keeps the console role: resetting an administrator's password does not demote them.
        var admin = await ReadUserAsync(user, cancellationToken) is { Record.Admin: true };
        var record = JsonSerializer.Serialize(new UserRecord(passwordHash) { Admin = admin }, AccountsJson.Default.UserRecord);
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

    /// <summary>How many aliases deep an expansion may go (Postfix's virtual_alias_recursion_limit; 1000 there, but a
    /// chain of more than a few is a mistake, not a design).</summary>
    public const int MaxAliasDepth = 20;

    private AliasTable? _aliases;

    /// <summary>The aliases (Postfix virtual_alias_maps) that <see cref="ResolveAsync"/> expands.</summary>
    public AliasTable Aliases => _aliases ??= new AliasTable(state, IsLocalDomainAsync);

    private SieveScripts? _sieve;

    /// <summary>Each user's Sieve scripts and which one is active (the inbound stage runs it at delivery).</summary>
    public SieveScripts Sieve => _sieve ??= new SieveScripts(state);

    /// <summary>SRS for forwarded mail and its bounces; null turns it off (forwards keep the original sender, and an SRS
    /// address of ours is refused).</summary>
    public SenderRewriting? Srs { get; init; }

    /// <summary>
    /// Where a recipient address goes. Not one of our domains: <see cref="Resolution.Remote"/>. In a local domain, the
    /// first of these that exists, as Postfix looks up virtual_alias_maps before the mailboxes (an alias wins over a
    /// user of the same name, and over postmaster@ and abuse@): the alias of the address; the user; an SRS0 address
    /// of ours (reversed: the original sender); the alias, then the user, of the address without its detail
    /// (alice+lists@ is alice@); for postmaster@ and abuse@ the postmaster (<see cref="PostmasterAsync"/>); the
    /// domain's catch-all alias (<c>@domain</c>). Alias targets are resolved the same way, recursively; a target that
    /// is the alias itself means the mailbox of that name (Postfix's "keep a copy" idiom). Users and forwards are
    /// each listed once however often they are reached.
    /// </summary>
    public async Task<Resolution> ResolveAsync(string address, CancellationToken cancellationToken = default)
    {
        var canonical = Canonical(address);
        if (canonical is null) return new Resolution(ResolutionOutcome.Unknown, [], [], [address]);
        if (!await IsLocalDomainAsync(DomainOf(canonical), cancellationToken)) return Resolution.Remote;
        var x = new Expansion();
        await ExpandAsync(canonical, x, cancellationToken);
        if (x.Failure is { } failure) return new Resolution(failure.Outcome, [], [], x.Unknown, failure.Why);
        var outcome = x.Users.Count + x.Forwards.Count > 0 ? ResolutionOutcome.Deliverable : ResolutionOutcome.Unknown;
        return new Resolution(outcome, x.Users, x.Forwards, x.Unknown);
    }

    private async Task ExpandAsync(string canonical, Expansion x, CancellationToken cancellationToken)
    {
        var domain = DomainOf(canonical);
        if (!await IsLocalDomainAsync(domain, cancellationToken))
        {
            x.AddForward(canonical);
            return;
        }
        if (await ExpandAliasAsync(canonical, x, cancellationToken)) return;
        if (await IsUserAsync(canonical, cancellationToken))
        {
            x.AddUser(canonical);
            return;
        }
        var local = canonical[..canonical.LastIndexOf('@')];
        if (Srs0.LooksLikeSrs(local))
        {
            await ReverseSrsAsync(canonical, local, x, cancellationToken);
            return;
        }
        var baseLocal = Recipients.BaseLocalPart(local);
        if (baseLocal.Length != local.Length)
        {
            var baseAddress = $"{baseLocal}@{domain}";
            if (await ExpandAliasAsync(baseAddress, x, cancellationToken)) return;
            if (await IsUserAsync(baseAddress, cancellationToken))
            {
                x.AddUser(baseAddress);
                return;
            }
        }
        if (RecipientRules.RoleLocalParts.Contains(baseLocal) && await PostmasterAsync(domain, cancellationToken) is { } postmaster)
        {
            x.AddUser(postmaster);
            return;
        }
        if (await ExpandAliasAsync("@" + domain, x, cancellationToken)) return;
        x.Unknown.Add(canonical);
    }

    /// <summary>Expands the alias <paramref name="key"/> into <paramref name="x"/>; false when there is no such alias.</summary>
    private async Task<bool> ExpandAliasAsync(string key, Expansion x, CancellationToken cancellationToken)
    {
        if (await Aliases.GetAsync(key, cancellationToken) is not { } targets) return false;
        if (x.Chain.Contains(key))
        {
            x.Fail(ResolutionOutcome.AliasLoop, $"alias loop: {string.Join(" -> ", x.Chain)} -> {key}");
            return true;
        }
        if (x.Chain.Count >= MaxAliasDepth)
        {
            x.Fail(ResolutionOutcome.AliasLoop, $"aliases nested more than {MaxAliasDepth} deep: {x.Chain[0]} -> ... -> {key}");
            return true;
        }
        x.Chain.Add(key);
        foreach (var target in targets)
        {
            if (x.Failure is not null) break;
            if (target != key) await ExpandAsync(target, x, cancellationToken);
            else if (await MailboxAsync(target, cancellationToken) is { } own) x.AddUser(own);
            else x.Unknown.Add(target);
        }
        x.Chain.RemoveAt(x.Chain.Count - 1);
        return true;
    }

    /// <summary>A bounce (or reply) to an address we wrote when forwarding goes to the original sender.</summary>
    private async Task ReverseSrsAsync(string canonical, string local, Expansion x, CancellationToken cancellationToken)
    {
        if (Srs is null)
        {
            x.Fail(ResolutionOutcome.InvalidSrs, "SRS is off (no secret store)");
            return;
        }
        var (original, why) = await Srs.ReverseAsync(local, cancellationToken);
        if (original is null || Canonical(original) is not { } sender)
        {
            x.Fail(ResolutionOutcome.InvalidSrs, why ?? "the SRS address does not hold an address");
            return;
        }
        if (x.Chain.Contains(canonical))
        {
            x.Fail(ResolutionOutcome.AliasLoop, $"SRS address reverses to itself: {canonical}");
            return;
        }
        x.Chain.Add(canonical);
        await ExpandAsync(sender, x, cancellationToken);
        x.Chain.RemoveAt(x.Chain.Count - 1);
    }

    /// <summary>The mailbox an address names without aliases: the user, the user without the detail, or the postmaster.</summary>
    private async Task<string?> MailboxAsync(string canonical, CancellationToken cancellationToken)
    {
        if (await IsUserAsync(canonical, cancellationToken)) return canonical;
        var at = canonical.LastIndexOf('@');
        var (local, domain) = (canonical[..at], canonical[(at + 1)..]);
        var baseLocal = Recipients.BaseLocalPart(local);
        if (baseLocal.Length != local.Length && await IsUserAsync($"{baseLocal}@{domain}", cancellationToken)) return $"{baseLocal}@{domain}";
        return RecipientRules.RoleLocalParts.Contains(baseLocal) ? await PostmasterAsync(domain, cancellationToken) : null;
    }

    private async Task<bool> IsUserAsync(string canonical, CancellationToken cancellationToken) =>
        await state.GetAsync(UserPartition, canonical, cancellationToken) is not null;

    private static string DomainOf(string canonical) => canonical[(canonical.LastIndexOf('@') + 1)..];

    /// <summary>One expansion's state: what was reached, the alias keys being expanded (to see a loop), the first failure.</summary>
    private sealed class Expansion
    {
        public readonly List<string> Users = [];
        public readonly List<string> Forwards = [];
        public readonly List<string> Unknown = [];
        public readonly List<string> Chain = [];
        public (ResolutionOutcome Outcome, string Why)? Failure;

        public void AddUser(string user)
        {
            if (!Users.Contains(user)) Users.Add(user);
        }

        public void AddForward(string address)
        {
            if (!Forwards.Contains(address)) Forwards.Add(address);
        }

        public void Fail(ResolutionOutcome outcome, string why) => Failure ??= (outcome, why);
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
    public async Task<Credential?> GetCredentialAsync(string address, CancellationToken cancellationToken = default) =>
        await ReadUserAsync(address, cancellationToken) is ({ } user, { PasswordHash: { Length: > 0 } hash }) ? new Credential(user, hash) : null;

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

    /// <param name="PasswordHash">The stored hash (PasswordHasher's format or an imported crypt hash).</param>
    internal sealed record UserRecord(string PasswordHash)
    {
        /// <summary>May sign in to the web console. Absent in records written before the role existed: false.</summary>
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
        public bool Admin { get; init; }
    }
}

/// <summary>A user's stored credential (see <see cref="MailDirectory.GetCredentialAsync"/>).</summary>
public sealed record Credential(string User, string PasswordHash);

/// <summary>Compile-time JSON for user records: Native AOT has no reflection serializer, and under the JIT its first
/// use would be paid by a cold login.</summary>
[JsonSerializable(typeof(MailDirectory.UserRecord))]
[JsonSerializable(typeof(AliasTable.AliasRecord))]
internal sealed partial class AccountsJson : JsonSerializerContext;
