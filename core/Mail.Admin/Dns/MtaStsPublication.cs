using Mail.Outbound.Tls.MtaSts;

namespace Mail.Admin.Dns;

/// <summary>
/// The MTA-STS policies we publish for our domains (RFC 8461 3.2): one for every domain ("MtaSts:Mode", "MtaSts:MaxAge",
/// "MtaSts:Mx"), and a domain's own where "MtaSts:Domains:DOMAIN:*" sets one. `mail serve` serves them at
/// https://mta-sts.DOMAIN/.well-known/mta-sts.txt and the DNS helper advises the TXT id of the same text, so what is
/// advised and what is served cannot drift apart.
/// </summary>
public sealed class MtaStsPublication(MtaStsPolicy fallback, IReadOnlyDictionary<string, MtaStsPolicy> domains)
{
    /// <summary>Testing, not enforce: a sender enforcing a policy while the MX certificate is not yet right would
    /// defer our mail; testing only reports. Switch to enforce once the DNS helper and the TLS reports agree.</summary>
    public const MtaStsMode DefaultMode = MtaStsMode.Testing;

    /// <summary>A week (RFC 8461 3.2 suggests weeks or more, to outlast an attacker blocking the policy fetch).</summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromDays(7);

    /// <summary>Every domain: the defaults, our MX host.</summary>
    public static MtaStsPublication Default(string mxHost) =>
        new(new MtaStsPolicy(DefaultMode, [mxHost.Trim().TrimEnd('.').ToLowerInvariant()], DefaultMaxAge), new Dictionary<string, MtaStsPolicy>(StringComparer.OrdinalIgnoreCase));

    /// <summary>The policy of <paramref name="domain"/> (one of ours).</summary>
    public MtaStsPolicy For(string domain) => domains.TryGetValue(domain.TrimEnd('.'), out var own) ? own : fallback;
}
