using System.Net;

namespace Mail.Dns;

/// <summary>Settings of <see cref="DnsResolver"/>.</summary>
public sealed class DnsResolverOptions
{
    /// <summary>Recursive name servers to ask, in order. Empty: the system's resolvers (/etc/resolv.conf).</summary>
    public IReadOnlyList<IPEndPoint> NameServers { get; init; } = [];

    /// <summary>How long to wait for one answer from one server.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Extra attempts after the first one times out or fails on the network.</summary>
    public int Retries { get; init; } = 2;

    /// <summary>Repeat the query over TCP when the UDP answer comes back truncated (TC bit).</summary>
    public bool UseTcpFallback { get; init; } = true;

    /// <summary>Keep answers (positive and negative) for their TTL. Failures are never cached.</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Answers are kept at least this long, even if their TTL is shorter (0: honour the TTL exactly).</summary>
    public TimeSpan MinimumCacheTtl { get; init; } = TimeSpan.Zero;

    /// <summary>Answers are kept at most this long, even if their TTL is longer.</summary>
    public TimeSpan MaximumCacheTtl { get; init; } = TimeSpan.FromDays(1);

    /// <summary>
    /// How long NXDOMAIN / NODATA is kept when the answer carries no SOA record. With an SOA, the RFC 2308 value
    /// (min of the SOA's TTL and its MINIMUM field) is used instead, still capped by <see cref="MaximumCacheTtl"/>.
    /// </summary>
    public TimeSpan NegativeCacheTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Upper bound on cached answers. When a new answer would exceed it, expired entries are dropped first, then the
    /// whole cache if that is not enough (simple and bounded: one busy mail server looks up many distinct names).
    /// </summary>
    public int MaxCacheEntries { get; init; } = 50_000;

    internal void Validate()
    {
        if (MaxCacheEntries < 1) throw new ArgumentOutOfRangeException(nameof(MaxCacheEntries), MaxCacheEntries, "Dns MaxCacheEntries must be at least 1.");
        if (Timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "Dns Timeout must be positive.");
        if (Retries < 0) throw new ArgumentOutOfRangeException(nameof(Retries), Retries, "Dns Retries must be 0 or more.");
        if (MinimumCacheTtl < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MinimumCacheTtl), MinimumCacheTtl, "Dns MinimumCacheTtl must not be negative.");
        if (MaximumCacheTtl < MinimumCacheTtl) throw new ArgumentOutOfRangeException(nameof(MaximumCacheTtl), MaximumCacheTtl, "Dns MaximumCacheTtl must not be below MinimumCacheTtl.");
        if (NegativeCacheTtl < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(NegativeCacheTtl), NegativeCacheTtl, "Dns NegativeCacheTtl must not be negative.");
    }
}
