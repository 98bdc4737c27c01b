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

    /// <summary>TLSA records of a service (RFC 6698 3: the name <c>_port._tcp.host</c> is built here). Whether the answer
    /// is DNSSEC-validated is <see cref="DnsResult{T}.Authenticated"/>; DANE (RFC 7672) uses only validated ones.</summary>
    Task<DnsResult<TlsaRecord>> TlsaAsync(string host, int port, CancellationToken cancellationToken = default);

    /// <summary>SRV records of a service name such as <c>_submission._tcp.example.org</c> (RFC 2782; RFC 6186 for mail clients).</summary>
    Task<DnsResult<SrvRecord>> SrvAsync(string name, CancellationToken cancellationToken = default);
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

    /// <summary>
    /// True only when the recursive resolver set the AD bit (RFC 4035 3.2.3) on every answer this result came from,
    /// CNAME hops included: the records (or their absence) are DNSSEC-validated. Trusting it assumes the path to the
    /// resolver is trusted (a validating resolver on loopback, RFC 7672 2.1).
    /// </summary>
    public bool Authenticated { get; init; }

    /// <summary>
    /// The name the records were found at when the queried name is an alias (its CNAME chain fully expanded, RFC 1034
    /// 3.6.2); null when the queried name held them itself. DANE looks up TLSA records there first (RFC 7672 2.2.2).
    /// </summary>
    public string? CanonicalName { get; init; }
}

/// <param name="Exchange">Host name without trailing dot.</param>
public sealed record MxRecord(int Preference, string Exchange);

/// <summary>An SRV record (RFC 2782). <paramref name="Target"/> without trailing dot; "." (empty) means "no service here".</summary>
public sealed record SrvRecord(int Priority, int Weight, int Port, string Target);

/// <summary>TLSA certificate usage (RFC 6698 2.1.1, acronyms from RFC 7218).</summary>
public enum TlsaUsage : byte
{
    PkixTa = 0,
    PkixEe = 1,
    DaneTa = 2,
    DaneEe = 3,
}

/// <summary>TLSA selector (RFC 6698 2.1.2): the whole certificate or its SubjectPublicKeyInfo.</summary>
public enum TlsaSelector : byte
{
    Cert = 0,
    Spki = 1,
}

/// <summary>TLSA matching type (RFC 6698 2.1.3): the selected bytes as they are, or their SHA-256 / SHA-512 digest.</summary>
public enum TlsaMatchingType : byte
{
    Full = 0,
    Sha2_256 = 1,
    Sha2_512 = 2,
}

/// <summary>One TLSA record (RFC 6698 2.1). Values outside the enums are kept as they came (they are unusable, not errors).</summary>
/// <param name="Data">The certificate association data.</param>
public sealed record TlsaRecord(TlsaUsage Usage, TlsaSelector Selector, TlsaMatchingType MatchingType, byte[] Data)
{
    /// <summary>Presentation form, "3 1 1 ABCD…" (RFC 6698 2.2).</summary>
    public override string ToString() => $"{(byte)Usage} {(byte)Selector} {(byte)MatchingType} {Convert.ToHexString(Data)}";
}
