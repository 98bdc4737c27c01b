namespace Mail.Admin.Dns;

/// <summary>What the live answer says of one record the domain should publish.</summary>
public enum DnsVerdict
{
    /// <summary>Published as it should be.</summary>
    Right,
    /// <summary>Published, but with a value that does not do the job (the reason says how).</summary>
    Wrong,
    /// <summary>Not published at all.</summary>
    Missing,
    /// <summary>Works, with something the operator should know (DMARC p=none, an extra MX).</summary>
    Note,
    /// <summary>DNS did not answer (timeout, SERVFAIL): nothing is known.</summary>
    Unknown,
}

/// <summary>
/// One record to publish and what DNS answers for it now. <paramref name="ZoneLine"/> is the line to paste into a zone
/// file; <paramref name="Found"/> the values DNS gave (empty when none).
/// </summary>
public sealed record DnsRecordCheck(string Purpose, string Name, string Type, string Expected, string ZoneLine,
    IReadOnlyList<string> Found, DnsVerdict Verdict, string Reason);

/// <summary>
/// The records of one domain with their verdicts, and the MTA-STS policy text to serve at
/// https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461 3.2). <paramref name="V"/> is the format version.
/// </summary>
public sealed record DomainDnsReport(string Domain, IReadOnlyList<DnsRecordCheck> Records, string MtaStsPolicy, int V = 1)
{
    /// <summary>Nothing missing or wrong (notes allowed).</summary>
    public bool AllRight => Records.All(r => r.Verdict is DnsVerdict.Right or DnsVerdict.Note);
}

/// <summary>An RFC 6186 / RFC 8314 service a mail client finds by SRV: <c>_submission._tcp</c>, <c>_submissions._tcp</c>,
/// <c>_imaps._tcp</c>, <c>_imap._tcp</c>, <c>_pop3s._tcp</c>, <c>_pop3._tcp</c>, or <c>_autodiscover._tcp</c>.</summary>
public sealed record SrvService(string Service, string Host, int Port);

/// <summary>
/// This server as DNS should name it: the MX host (Smtp:HostName, also the host SPF must let send) and the services
/// clients find by SRV, from the listeners `mail serve` opens. <paramref name="Autoconfig"/>: Autoconfig:Endpoint is
/// set, so the autoconfig.DOMAIN name is advised too.
/// </summary>
public sealed record MailHostProfile(string MxHost, IReadOnlyList<SrvService> Services, bool Autoconfig = false, MtaStsPublication? MtaSts = null)
{
    /// <summary>The policies we serve (or would serve: the settings' defaults when none were given).</summary>
    public MtaStsPublication MtaStsPolicies => MtaSts ?? MtaStsPublication.Default(MxHost);
}
