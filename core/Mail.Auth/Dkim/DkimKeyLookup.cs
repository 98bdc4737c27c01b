using Mail.Core.Caching;
using Mail.Core.Ports;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Mail.Auth.Dkim;

/// <summary>Outcome of fetching a DKIM key: a record, nothing (permerror) or a DNS failure (temperror).</summary>
public sealed record DkimKeyLookupResult(DkimKeyRecord? Record, bool TemporaryFailure, string? Error);

/// <summary>Fetches and parses selector._domainkey.domain TXT records through <see cref="IDnsResolver"/>.</summary>
public sealed class DkimKeyLookup(IDnsResolver dns)
{
    public async Task<DkimKeyLookupResult> LookupAsync(string domain, string selector, CancellationToken cancellationToken)
    {
        var name = $"{selector}._domainkey.{domain}";
        if (name.Length > 253 || name.Any(c => c <= ' ' || c >= 0x7f))
            return new DkimKeyLookupResult(null, false, $"invalid key name {name}");
        var answer = await dns.TxtAsync(name, cancellationToken);
        switch (answer.Status)
        {
            case DnsStatus.Failed:
                return new DkimKeyLookupResult(null, true, $"DNS lookup of {name} failed: {answer.Error}");
            case DnsStatus.NoData or DnsStatus.NxDomain:
                return new DkimKeyLookupResult(null, false, $"no key for signature at {name}");
        }
        // Several TXT records at a key name are ill-defined (RFC 6376 3.6.2.2); use the first that parses as a key.
        string? firstError = null;
        foreach (var txt in answer.Records)
        {
            var record = ParseCached(txt, out var error);
            if (record is not null) return new DkimKeyLookupResult(record, false, null);
            firstError ??= error;
        }
        return new DkimKeyLookupResult(null, false, $"{firstError} at {name}");
    }

    // A busy MX sees the same few key records all day, and the resolver hands back the same text each time: parse
    // (tags, base64) each distinct record once. Parsed records are immutable public data; bounded by clearing.
    private static readonly ClearingCache<string, (DkimKeyRecord? Record, string? Error)> s_parsed = new(4096, StringComparer.Ordinal);

    private static DkimKeyRecord? ParseCached(string txt, out string? error)
    {
        (var record, error) = s_parsed.GetOrAdd(txt, static (t, _) => (DkimKeyRecord.Parse(t, out var parseError), parseError), 0);
        return record;
    }
}

/// <summary>
/// MimeKit's key locator over <see cref="IDnsResolver"/>, for <see cref="ArcVerifier"/> (which fetches keys itself).
/// Throws when there is no usable key; MimeKit turns that into a failed signature.
/// </summary>
public sealed class DnsDkimPublicKeyLocator(IDnsResolver dns) : DkimPublicKeyLocatorBase
{
    private readonly DkimKeyLookup _lookup = new(dns);

    // MimeKit's IDkimPublicKeyLocator requires a synchronous member; only MimeKit's sync Verify calls it. Every
    // verifier here calls VerifyAsync, which uses LocatePublicKeyAsync below, so this blocking path is never taken.
    public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        LocatePublicKeyAsync(methods, domain, selector, cancellationToken).GetAwaiter().GetResult();

    public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default)
    {
        var result = await _lookup.LookupAsync(domain.ToLowerInvariant(), selector, cancellationToken);
        if (result.Record is null) throw new DkimKeyUnavailableException(result.Error ?? "no key", result.TemporaryFailure);
        if (result.Record.IsRevoked) throw new DkimKeyUnavailableException($"key {selector}._domainkey.{domain} is revoked", false);
        return result.Record.DecodeKey(out var error) ?? throw new DkimKeyUnavailableException(error ?? "unusable key", false);
    }
}

public sealed class DkimKeyUnavailableException(string message, bool temporary) : Exception(message)
{
    public bool Temporary { get; } = temporary;
}
