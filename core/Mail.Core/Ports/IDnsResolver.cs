using System.Net;

namespace Mail.Core.Ports;

/// <summary>
/// The DNS lookups mail needs. "No such record" (NoData, NxDomain) and "DNS failed" (Failed: timeout,
/// SERVFAIL, refused) are different outcomes: a failure must become temperror, never pass or none.
/// </summary>
public interface IDnsResolver
{
    /// <summary>TXT records, each record's character-strings concatenated (RFC 7208 3.3).</summary>
    Task<DnsResult<string>> TxtAsync(string name, CancellationToken cancellationToken = default);

    Task<DnsResult<IPAddress>> AAsync(string name, CancellationToken cancellationToken = default);

    Task<DnsResult<IPAddress>> AaaaAsync(string name, CancellationToken cancellationToken = default);

    Task<DnsResult<MxRecord>> MxAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>PTR names for an address (the in-addr.arpa / ip6.arpa name is built here), without trailing dots.</summary>
    Task<DnsResult<string>> PtrAsync(IPAddress address, CancellationToken cancellationToken = default);
}

public enum DnsStatus
{
    /// <summary>At least one record.</summary>
    Ok,
    /// <summary>The name exists but has no record of this type.</summary>
    NoData,
    /// <summary>The name does not exist (RCODE 3).</summary>
    NxDomain,
    /// <summary>Timeout, SERVFAIL, REFUSED, malformed answer: nothing is known.</summary>
    Failed,
}

public sealed record DnsResult<T>(DnsStatus Status, IReadOnlyList<T> Records, string? Error = null)
{
    public static DnsResult<T> Found(IReadOnlyList<T> records) => new(records.Count > 0 ? DnsStatus.Ok : DnsStatus.NoData, records);
    public static DnsResult<T> NoData() => new(DnsStatus.NoData, []);
    public static DnsResult<T> NxDomain() => new(DnsStatus.NxDomain, []);
    public static DnsResult<T> Failure(string error) => new(DnsStatus.Failed, [], error);

    /// <summary>NoData or NxDomain: the lookup succeeded and found nothing (an SPF "void lookup").</summary>
    public bool IsEmpty => Status is DnsStatus.NoData or DnsStatus.NxDomain;
}

/// <param name="Exchange">Host name without trailing dot.</param>
public sealed record MxRecord(int Preference, string Exchange);
