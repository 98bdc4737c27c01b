using Mail.Core.Ports;
using Mail.Outbound.Routing;
using Microsoft.Extensions.Logging;

namespace Mail.Outbound.Tls.MtaSts;

/// <summary>What the SMTP client must hold an MX to for one route: the domain's MTA-STS policy, by id and mode.</summary>
/// <param name="PolicyStrings">The policy's lines as fetched (TLS-RPT policy-string, RFC 8460 4.3).</param>
public sealed record MtaStsApplied(string Domain, string Id, MtaStsMode Mode, IReadOnlyList<string>? PolicyStrings = null);

/// <summary>
/// MTA-STS (RFC 8461) for MX routes: discovery (the _mta-sts TXT record, <see cref="MtaStsTxtRecord"/>), fetch
/// (<see cref="MtaStsPolicyClient"/>), cache (<see cref="MtaStsPolicyCache"/>), and the MX check of 4.1. The policy in
/// use is the cached one while it is unexpired and the TXT id is unchanged; a changed id (or none cached) fetches
/// again; when that fails the cached unexpired policy stays in force (5.1), and without one the domain has no policy.
/// "enforce" keeps only the MX hosts the policy allows and has the SMTP client require STARTTLS with a verified
/// certificate (<see cref="MtaStsCertificates"/>); "testing" delivers as <see cref="TlsPolicy.May"/> and logs one
/// warning per thing enforce would refuse; "none" and no policy are <see cref="TlsPolicy.May"/>.
/// </summary>
public sealed class MtaStsPolicies(IDnsResolver dns, IStateStore? state, OutboundOptions options, TrustRoots trust, ILogger log, TimeProvider? time = null)
    : IDisposable
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly MtaStsPolicyClient _client = new(dns, options.MtaSts, trust);
    private readonly MtaStsPolicyCache? _cache = state is null ? null : new MtaStsPolicyCache(state, time ?? TimeProvider.System);

    /// <summary>The route as the domain's policy wants it (MX hosts resolved, <see cref="RouteOutcome.Deliver"/> only).</summary>
    public async Task<Route> ApplyAsync(string domain, Route route, CancellationToken cancellationToken)
    {
        if (route.Outcome != RouteOutcome.Deliver) return route;
        var current = await PolicyForAsync(domain, cancellationToken);
        if (current is null || current.Policy.Mode == MtaStsMode.None) return route with { Tls = TlsPolicy.May };
        var policy = current.Policy;
        var applied = new MtaStsApplied(domain, current.Id, policy.Mode,
            ["version: STSv1", $"mode: {policy.Mode.ToString().ToLowerInvariant()}", .. policy.Mx.Select(m => "mx: " + m), $"max_age: {(long)policy.MaxAge.TotalSeconds}"]);
        var refused = route.Hosts.Where(h => !policy.Allows(h.Name)).ToList();
        if (policy.Mode == MtaStsMode.Testing)
        {
            foreach (var host in refused)
                log.LogWarning("MTA-STS testing: policy of {Domain} (id {Id}) does not allow MX {Host} (mx: {Patterns}); delivering anyway",
                    domain, current.Id, host.Name, string.Join(", ", policy.Mx));
            return route with { Tls = TlsPolicy.May, MtaSts = applied };
        }
        if (refused.Count == route.Hosts.Count)
            return Route.Defer("4.7.5", $"MTA-STS policy of {domain} (enforce, id {current.Id}) allows MX {string.Join(", ", policy.Mx)}; " +
                                        $"none of {string.Join(", ", route.Hosts.Select(h => h.Name))} matches");
        return route with { Hosts = route.Hosts.Except(refused).ToList(), MtaSts = applied };
    }

    /// <summary>The policy in force for a domain, or null when it has none.</summary>
    public async Task<CachedMtaStsPolicy?> PolicyForAsync(string domain, CancellationToken cancellationToken)
    {
        var cached = _cache is null ? null : await _cache.GetAsync(domain, cancellationToken);
        var txt = await dns.TxtAsync(MtaStsTxtRecord.Prefix + domain, cancellationToken);
        // RFC 8461 5.1: no usable TXT record (or DNS trouble) with a cached policy: keep using it.
        if (txt.Status != DnsStatus.Ok) return cached;
        var (id, _) = MtaStsTxtRecord.Parse(txt.Records);
        if (id is null || cached?.Id == id) return cached;
        try
        {
            var fetched = new CachedMtaStsPolicy(id, await _client.FetchAsync(domain, cancellationToken), _time.GetUtcNow());
            if (_cache is not null) await _cache.PutAsync(domain, fetched, cancellationToken);
            log.LogInformation("MTA-STS policy of {Domain} fetched: id {Id}, mode {Mode}, max_age {MaxAge}, mx {Patterns}",
                domain, id, fetched.Policy.Mode.ToString().ToLowerInvariant(), (long)fetched.Policy.MaxAge.TotalSeconds, string.Join(", ", fetched.Policy.Mx));
            return fetched;
        }
        catch (MtaStsFetchException e)
        {
            if (cached is not null)
                log.LogWarning("MTA-STS policy of {Domain} (id {Id}) could not be fetched: {Reason}; using the cached policy (id {CachedId}, mode {Mode}) until {Expires:u}",
                    domain, id, e.Message, cached.Id, cached.Policy.Mode.ToString().ToLowerInvariant(), cached.ExpiresAt);
            else
                log.LogWarning("MTA-STS policy of {Domain} (id {Id}) could not be fetched: {Reason}; no policy cached, delivering as without one",
                    domain, id, e.Message);
            return cached;
        }
    }

    public void Dispose() => _client.Dispose();
}
