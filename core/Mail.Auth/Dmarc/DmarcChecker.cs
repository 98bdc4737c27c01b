using Mail.Auth.Dkim;
using Mail.Auth.PublicSuffix;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Messages;
using MimeKit;

namespace Mail.Auth.Dmarc;

public enum DmarcResultCode
{
    None,
    Pass,
    Fail,
    TempError,
    PermError,
}

/// <summary>The DMARC evaluation of one message (RFC 7489 6.6).</summary>
public sealed record DmarcResult
{
    public required DmarcResultCode Code { get; init; }
    /// <summary>RFC5322.From domain (null when it could not be determined).</summary>
    public string? FromDomain { get; init; }
    public string? OrganizationalDomain { get; init; }
    /// <summary>The record used and the domain it was found at (author or organizational domain).</summary>
    public DmarcRecord? Record { get; init; }
    public string? RecordDomain { get; init; }
    /// <summary>The policy the domain asks for on failure (p=, or sp= for a subdomain covered by the organizational record).</summary>
    public DmarcPolicy RequestedPolicy { get; init; }
    /// <summary>What to do with this message: None on pass, otherwise the requested policy after pct= sampling.</summary>
    public DmarcPolicy AppliedPolicy { get; init; }
    /// <summary>pct= left this failing message out of the policy (it got the next milder one).</summary>
    public bool SampledOut { get; init; }
    public bool SpfAligned { get; init; }
    public bool DkimAligned { get; init; }
    /// <summary>d= of the first passing DKIM signature that aligned.</summary>
    public string? AlignedDkimDomain { get; init; }
    public string? Reason { get; init; }

    public static string ToToken(DmarcResultCode code) => code switch
    {
        DmarcResultCode.Pass => "pass",
        DmarcResultCode.Fail => "fail",
        DmarcResultCode.TempError => "temperror",
        DmarcResultCode.PermError => "permerror",
        _ => "none",
    };
}

/// <summary>
/// DMARC (RFC 7489): finds the policy record for the RFC5322.From domain (then its organizational domain), checks
/// SPF and DKIM identifier alignment, and says which policy applies. It decides nothing about delivery: the caller
/// maps the applied policy to a disposition (never a bounce).
/// </summary>
public sealed class DmarcChecker
{
    private readonly IDnsResolver _dns;
    private readonly PublicSuffixList _psl;
    private readonly Func<int> _percentSample;

    /// <param name="percentSample">Returns 0..99 for pct= sampling; defaults to a random number (tests pass a fixed one).</param>
    public DmarcChecker(IDnsResolver dns, PublicSuffixList? publicSuffixList = null, Func<int>? percentSample = null)
    {
        _dns = dns;
        _psl = publicSuffixList ?? PublicSuffixList.Default;
        _percentSample = percentSample ?? (() => Random.Shared.Next(100));
    }

    public PublicSuffixList PublicSuffixList => _psl;

    /// <param name="spfPassDomain">The SPF-authenticated domain (MAIL FROM domain, or HELO for the null sender) when SPF passed; null otherwise.</param>
    /// <param name="dkim">The DKIM results of the message.</param>
    public Task<DmarcResult> CheckAsync(MimeMessage message, string? spfPassDomain, IEnumerable<DkimResult> dkim, CancellationToken cancellationToken = default) =>
        CheckAsync(AuthorDomain(message, out var fromError), fromError, spfPassDomain, dkim, cancellationToken);

    /// <inheritdoc cref="CheckAsync(MimeMessage, string?, IEnumerable{DkimResult}, CancellationToken)"/>
    public Task<DmarcResult> CheckAsync(RawMessage message, string? spfPassDomain, IEnumerable<DkimResult> dkim, CancellationToken cancellationToken = default) =>
        CheckAsync(AuthorDomain(message, out var fromError), fromError, spfPassDomain, dkim, cancellationToken);

    private async Task<DmarcResult> CheckAsync(string? from, string? fromError, string? spfPassDomain, IEnumerable<DkimResult> dkim, CancellationToken cancellationToken)
    {
        if (from is null) return new DmarcResult { Code = DmarcResultCode.PermError, Reason = fromError };
        var org = _psl.GetOrganizationalDomain(from);

        // RFC 7489 6.6.3: the author domain first, then the organizational domain.
        var (record, recordDomain, outcome) = await DiscoverAsync(from, cancellationToken);
        if (outcome is null && record is null && org != from)
            (record, recordDomain, outcome) = await DiscoverAsync(org, cancellationToken);
        if (outcome is not null) return outcome with { FromDomain = from, OrganizationalDomain = org };
        if (record is null)
            return new DmarcResult { Code = DmarcResultCode.None, FromDomain = from, OrganizationalDomain = org, Reason = "no DMARC record" };

        var spfAligned = spfPassDomain is not null && Aligned(spfPassDomain, from, record.SpfAlignment);
        var alignedDkim = dkim.FirstOrDefault(d => d.Code == DkimResultCode.Pass && d.Domain is not null && Aligned(d.Domain, from, record.DkimAlignment));
        var requested = recordDomain != from && record.SubdomainPolicy is { } sp ? sp : record.Policy;

        var result = new DmarcResult
        {
            Code = DmarcResultCode.Fail,
            FromDomain = from,
            OrganizationalDomain = org,
            Record = record,
            RecordDomain = recordDomain,
            RequestedPolicy = requested,
            SpfAligned = spfAligned,
            DkimAligned = alignedDkim is not null,
            AlignedDkimDomain = alignedDkim?.Domain,
        };
        if (spfAligned || alignedDkim is not null) return result with { Code = DmarcResultCode.Pass, AppliedPolicy = DmarcPolicy.None };

        // pct=: a failing message outside the sample gets the next milder policy (RFC 7489 6.6.4).
        var applied = requested;
        var sampledOut = false;
        if (requested != DmarcPolicy.None && record.Percent < 100 && _percentSample() >= record.Percent)
        {
            applied = requested == DmarcPolicy.Reject ? DmarcPolicy.Quarantine : DmarcPolicy.None;
            sampledOut = true;
        }
        return result with { AppliedPolicy = applied, SampledOut = sampledOut, Reason = "neither SPF nor DKIM aligned with the From domain" };
    }

    /// <summary>Relaxed: same organizational domain; strict: the same domain.</summary>
    public bool Aligned(string authenticated, string from, DmarcAlignment mode)
    {
        var a = Address.NormalizeDomain(authenticated) ?? authenticated.ToLowerInvariant();
        if (a == from) return true;
        return mode == DmarcAlignment.Relaxed && _psl.GetOrganizationalDomain(a) == _psl.GetOrganizationalDomain(from);
    }

    /// <summary>
    /// The RFC5322.From domain (RFC 7489 6.6.1). No From, several From fields, or mailboxes in different domains
    /// make it undeterminable: null with the reason.
    /// </summary>
    public static string? AuthorDomain(MimeMessage message, out string? error)
    {
        error = null;
        var fields = message.Headers.Count(h => h.Id == HeaderId.From);
        if (fields == 0) { error = "no From header field"; return null; }
        if (fields > 1) { error = "multiple From header fields"; return null; }
        return AuthorDomain(message.From.Mailboxes, out error);
    }

    /// <inheritdoc cref="AuthorDomain(MimeMessage, out string?)"/>
    public static string? AuthorDomain(RawMessage message, out string? error)
    {
        error = null;
        var index = message.IndexOf("From");
        if (index < 0) { error = "no From header field"; return null; }
        if (message.IndexOf("From", index + 1) >= 0) { error = "multiple From header fields"; return null; }
        // MimeKit's address parser over the raw value, as MimeMessage.From would have it.
        var value = message.RawValue(message[index]).ToArray();
        var mailboxes = InternetAddressList.TryParse(ParserOptions.Default, value, 0, value.Length, out var list)
            ? list.Mailboxes : [];
        return AuthorDomain(mailboxes, out error);
    }

    private static string? AuthorDomain(IEnumerable<MailboxAddress> mailboxes, out string? error)
    {
        error = null;
        var domains = mailboxes.Select(m => Address.NormalizeDomain(m.Domain ?? "")).Distinct().ToList();
        if (domains.Count == 0 || domains.Any(d => d is null || d.StartsWith('[')))
        {
            error = "From has no usable domain";
            return null;
        }
        if (domains.Count > 1)
        {
            error = "From has mailboxes in different domains";
            return null;
        }
        return domains[0];
    }

    // The same few policy records arrive all day with the same text from the resolver: parse each distinct text
    // once (records are immutable public data). Bounded by clearing.
    private static readonly Mail.Core.Caching.ClearingCache<string, (DmarcRecord? Record, string? Error)> s_parsed = new(4096, StringComparer.Ordinal);

    private static DmarcRecord? ParseCached(string txt, out string? error)
    {
        (var record, error) = s_parsed.GetOrAdd(txt, static (t, _) => (DmarcRecord.Parse(t, out var parseError), parseError), 0);
        return record;
    }

    private async Task<(DmarcRecord? Record, string? Domain, DmarcResult? Outcome)> DiscoverAsync(string domain, CancellationToken cancellationToken)
    {
        var answer = await _dns.TxtAsync("_dmarc." + domain, cancellationToken);
        if (answer.Status == DnsStatus.Failed)
            return (null, null, new DmarcResult { Code = DmarcResultCode.TempError, Reason = $"DNS lookup of _dmarc.{domain} failed: {answer.Error}" });
        var candidates = answer.Records.Where(DmarcRecord.IsDmarcRecord).ToList();
        if (candidates.Count == 0) return (null, null, null);
        // More than one record: discovery ends and DMARC does not apply (RFC 7489 6.6.3 step 4).
        if (candidates.Count > 1)
            return (null, null, new DmarcResult { Code = DmarcResultCode.None, Reason = $"multiple DMARC records at _dmarc.{domain}" });
        var record = ParseCached(candidates[0], out var error);
        if (record is null)
            return (null, null, new DmarcResult { Code = DmarcResultCode.None, Reason = $"unusable DMARC record at _dmarc.{domain}: {error}" });
        return (record, domain, null);
    }
}
