using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Mail.Core.Accounts;
using Mail.Core.Caching;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Auth.Dkim.Signing;

/// <summary>
/// Our domains' DKIM signing keys: creates them (only for domains that are ours), lists them, rotates them, and
/// hands the signer the active ones. Public facts live in the state store (partition <c>dkim:DOMAIN</c>, one row
/// per selector, so the edge, the Functions and the CLI see the same keys); private keys live in an
/// <see cref="ISecretStore"/> (embedded: 0600 PEM files; cloud: sealed rows).
/// Default selectors are the month of creation and the key type, <c>yyyyMM</c> + <c>r</c> (RSA) or <c>e</c>
/// (Ed25519), e.g. <c>202612r</c>; a second key of the same month and type gets <c>202612r2</c>.
/// </summary>
public sealed class DkimKeyStore
{
    private const string PartitionPrefix = "dkim:";
    private readonly IStateStore _state;
    private readonly ISecretStore? _secrets;
    private readonly MailDirectory _directory;
    private readonly TimeSpan _retiredKeyPublished;
    private readonly TimeProvider _time;
    // Private keys never change under a name (a rotation makes new names), so a parsed key is kept for the life of
    // the process: an RSA PEM parse costs more than the signature.
    private readonly ConcurrentDictionary<string, DkimSigningKey> _signingKeys = new(StringComparer.Ordinal);
    // The active keys per From domain, for keyCacheTtl: without it every outbound message read the domain's key rows.
    // Bounded: the From domains of relayed mail are not all ours (theirs cache as empty).
    private readonly ClearingCache<string, (DateTimeOffset Until, IReadOnlyList<DkimSigningKey> Keys)> _active = new(1024, StringComparer.Ordinal);
    private readonly TimeSpan _keyCacheTtl;
    private long _changes;

    /// <param name="secrets">Null where private keys have no store (cloud without Dkim:KeyEncryptionKey): keys cannot be made.</param>
    /// <param name="retiredKeyPublished">How long a rotated-out key stays in DNS (setting Dkim:RetiredKeyDays), so
    /// mail signed just before the rotation still verifies while it is in flight.</param>
    /// <param name="keyCacheTtl">How long the signer trusts a domain's list of active keys (setting Dkim:KeyCacheTtl;
    /// zero reads it every time). Keys added or rotated through this instance (the running server's console) sign at
    /// once; through another process (the `mail dkim` CLI) at once when it reaches the running server (<see cref="Forget"/>),
    /// else within this time.</param>
    public DkimKeyStore(IStateStore state, ISecretStore? secrets, MailDirectory directory, TimeSpan retiredKeyPublished, TimeProvider? time = null,
        TimeSpan keyCacheTtl = default)
    {
        _keyCacheTtl = keyCacheTtl;
        _state = state;
        _secrets = secrets;
        _directory = directory;
        _retiredKeyPublished = retiredKeyPublished;
        _time = time ?? TimeProvider.System;
    }

    public static readonly IReadOnlyList<DkimKeyAlgorithm> DefaultAlgorithms = [DkimKeyAlgorithm.Rsa, DkimKeyAlgorithm.Ed25519];

    /// <summary>
    /// Creates keys for one of our domains: one per algorithm (both when <paramref name="algorithm"/> is null).
    /// A given <paramref name="selector"/> is used as is for one algorithm, and with the suffix r / e for both.
    /// </summary>
    /// <exception cref="DkimKeyException">Not our domain, a bad or taken selector, no store for private keys.</exception>
    public async Task<IReadOnlyList<DkimKey>> AddAsync(string domain, string? selector = null, DkimKeyAlgorithm? algorithm = null, CancellationToken cancellationToken = default)
    {
        var d = await OurDomainAsync(domain, cancellationToken);
        IReadOnlyList<DkimKeyAlgorithm> algorithms = algorithm is { } a ? [a] : DefaultAlgorithms;
        if (selector is not null)
        {
            selector = selector.Trim().ToLowerInvariant();
            if (!IsSelector(selector)) throw new DkimKeyException($"selector '{selector}' is not a DNS label (letters, digits, '-'; dots between labels)");
        }
        var existing = await ListAsync(d, cancellationToken);
        var created = new List<DkimKey>();
        using var changing = Changing();
        foreach (var alg in algorithms)
        {
            var s = selector is null ? DefaultSelector(alg, existing.Concat(created)) : algorithms.Count == 1 ? selector : selector + alg.Suffix();
            if (existing.Any(k => k.Selector == s)) throw new DkimKeyException($"selector {s} already exists for {d}");
            created.Add(await CreateAsync(d, s, alg, cancellationToken));
        }
        return created;
    }

    /// <summary>
    /// Replaces the active keys of a domain (both types when it has none): the new keys sign at once; the old ones
    /// sign no more and stay published for the retired-key period. Returns the new keys and the retired ones.
    /// </summary>
    public async Task<(IReadOnlyList<DkimKey> Created, IReadOnlyList<DkimKey> Retired)> RotateAsync(string domain, CancellationToken cancellationToken = default)
    {
        var d = await OurDomainAsync(domain, cancellationToken);
        var existing = await ListAsync(d, cancellationToken);
        var active = existing.Where(k => k.IsActive).ToList();
        var algorithms = active.Count == 0 ? DefaultAlgorithms : active.Select(k => k.Algorithm).Distinct().ToList();
        var created = new List<DkimKey>();
        using var changing = Changing();
        foreach (var alg in algorithms)
            created.Add(await CreateAsync(d, DefaultSelector(alg, existing.Concat(created)), alg, cancellationToken));

        // Retired only once the new keys exist: a crash in between leaves two keys signing, never none.
        var now = _time.GetUtcNow();
        var retired = new List<DkimKey>();
        foreach (var old in active)
        {
            var entry = await _state.GetAsync(PartitionPrefix + d, old.Selector, cancellationToken);
            if (entry is null || Parse(entry.Value) is not { IsActive: true } current) continue;
            var updated = current with { Retired = now, PublishedUntil = now + _retiredKeyPublished };
            if (await _state.TryPutAsync(PartitionPrefix + d, old.Selector, Serialize(updated), entry.Version, cancellationToken: cancellationToken))
                retired.Add(updated);
        }
        return (created, retired);
    }

    /// <summary>Every key of a domain, oldest first (active, retired and withdrawn).</summary>
    public async Task<IReadOnlyList<DkimKey>> ListAsync(string domain, CancellationToken cancellationToken = default)
    {
        var d = Address.NormalizeDomain(domain) ?? throw new DkimKeyException($"'{domain}' is not a domain name");
        var keys = new List<DkimKey>();
        await foreach (var entry in _state.ListAsync(PartitionPrefix + d, cancellationToken))
            if (Parse(entry.Value) is { } key) keys.Add(key);
        keys.Sort((x, y) => x.Created != y.Created ? x.Created.CompareTo(y.Created)
            : x.Algorithm != y.Algorithm ? x.Algorithm.CompareTo(y.Algorithm) : string.CompareOrdinal(x.Selector, y.Selector));
        return keys;
    }

    /// <summary>The keys of all our domains.</summary>
    public async Task<IReadOnlyList<DkimKey>> ListAllAsync(CancellationToken cancellationToken = default)
    {
        var all = new List<DkimKey>();
        foreach (var domain in await _directory.ListDomainsAsync(cancellationToken))
            all.AddRange(await ListAsync(domain, cancellationToken));
        return all;
    }

    /// <summary>Whether a key's record should be in DNS now: active, or retired and within its published period.</summary>
    public bool IsPublished(DkimKey key) => key.PublishedUntil is not { } until || _time.GetUtcNow() < until;

    /// <summary>The active keys of a domain with their private keys, for signing; empty when it has none (or is
    /// not a domain). A key whose private key is missing or unreadable is left out, not fatal.</summary>
    public async Task<IReadOnlyList<DkimSigningKey>> GetSigningKeysAsync(string domain, CancellationToken cancellationToken = default)
    {
        var d = Address.NormalizeDomain(domain);
        if (d is null || _secrets is null) return [];
        if (_keyCacheTtl <= TimeSpan.Zero) return await ReadSigningKeysAsync(d, _secrets, cancellationToken);
        var now = _time.GetUtcNow();
        if (_active.TryGetValue(d, out var cached) && now < cached.Until) return cached.Keys;
        // A change made while this read runs must not be hidden behind what the read found.
        var changes = Interlocked.Read(ref _changes);
        var keys = await ReadSigningKeysAsync(d, _secrets, cancellationToken);
        if (Interlocked.Read(ref _changes) == changes) _active.Set(d, (now + _keyCacheTtl, keys));
        return keys;
    }

    /// <summary>Whether private keys have a store here: without one nothing is signed.</summary>
    public bool CanSign => _secrets is not null;

    /// <summary>Forgets the cached active keys when a change through this instance ends (however it ends).</summary>
    private Changed Changing() => new(this);

    /// <summary>Drops the cached active keys, so the next message reads them: another process (the `mail dkim` CLI)
    /// changed them and told this one (the server's control socket), which then need not wait for Dkim:KeyCacheTtl.</summary>
    public void Forget()
    {
        using var _ = Changing();
    }

    private readonly struct Changed(DkimKeyStore keys) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.Increment(ref keys._changes);
            keys._active.Clear();
        }
    }

    private async Task<IReadOnlyList<DkimSigningKey>> ReadSigningKeysAsync(string d, ISecretStore secrets, CancellationToken cancellationToken)
    {
        List<DkimSigningKey>? keys = null;
        await foreach (var entry in _state.ListAsync(PartitionPrefix + d, cancellationToken))
        {
            if (Parse(entry.Value) is not { IsActive: true } key) continue;
            var name = key.SecretName;
            if (!_signingKeys.TryGetValue(name, out var signingKey))
            {
                if (await secrets.GetAsync(name, cancellationToken) is not { } pem) continue;
                try
                {
                    signingKey = DkimSigningKey.FromPem(key, pem);
                }
                catch (Exception e) when (e is FormatException or ArgumentException or System.Security.Cryptography.CryptographicException)
                {
                    continue;
                }
                _signingKeys[name] = signingKey;
            }
            (keys ??= []).Add(signingKey);
        }
        return keys ?? [];
    }

    private async Task<DkimKey> CreateAsync(string domain, string selector, DkimKeyAlgorithm algorithm, CancellationToken cancellationToken)
    {
        if (_secrets is null) throw new DkimKeyException("private keys have no store here: in cloud mode set Dkim:KeyEncryptionKey (32 random bytes, base64)", "Dkim:KeyEncryptionKey");
        var (pem, publicKey) = DkimKeyMaterial.Create(algorithm);
        var key = new DkimKey { Domain = domain, Selector = selector, Algorithm = algorithm, PublicKey = publicKey, Created = _time.GetUtcNow() };
        // The secret first: a crash in between leaves an unused private key, never a published key without one.
        try
        {
            await _secrets.CreateAsync(key.SecretName, pem, cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            throw new DkimKeyException($"selector {selector} of {domain}: {e.Message}");
        }
        if (!await _state.TryPutAsync(PartitionPrefix + domain, selector, Serialize(key), expectedVersion: null, cancellationToken: cancellationToken))
            throw new DkimKeyException($"selector {selector} already exists for {domain}");
        return key;
    }

    private async Task<string> OurDomainAsync(string domain, CancellationToken cancellationToken)
    {
        var d = Address.NormalizeDomain(domain);
        if (d is null || d.StartsWith('[')) throw new DkimKeyException($"'{domain}' is not a domain name");
        if (!await _directory.IsLocalDomainAsync(d, cancellationToken))
            throw new DkimKeyException($"{d} is not one of our domains (add it first: mail domain add {d})");
        return d;
    }

    private string DefaultSelector(DkimKeyAlgorithm algorithm, IEnumerable<DkimKey> taken)
    {
        var names = taken.Select(k => k.Selector).ToHashSet(StringComparer.Ordinal);
        var stem = _time.GetUtcNow().ToString("yyyyMM", CultureInfo.InvariantCulture) + algorithm.Suffix();
        if (!names.Contains(stem)) return stem;
        for (var n = 2; ; n++)
            if (!names.Contains(stem + n.ToString(CultureInfo.InvariantCulture))) return stem + n.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>A selector is one or more DNS labels (RFC 6376 3.1).</summary>
    private static bool IsSelector(string s) =>
        s.Length is > 0 and <= 63 && s.Split('.').All(label => label.Length > 0 && label[0] != '-' && label[^1] != '-'
            && label.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'));

    private static string Serialize(DkimKey key) => JsonSerializer.Serialize(key, DkimJson.Default.DkimKey);

    private static DkimKey? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, DkimJson.Default.DkimKey) is { V: 1 } key ? key : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A DKIM key command cannot be done; the message is one line for the operator.</summary>
/// <summary>A key command that cannot be done; <see cref="Setting"/> names the setting to fix when one is the cause.</summary>
public sealed class DkimKeyException(string message, string? setting = null) : Exception(message)
{
    public string? Setting { get; } = setting;
}
