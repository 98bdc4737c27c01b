namespace Mail.Testing.Dns;

/// <summary>The record types <see cref="TestDnsServer"/> serves (values are the DNS TYPE codes).</summary>
public enum DnsRecordType
{
    A = 1,
    NS = 2,
    CNAME = 5,
    SOA = 6,
    PTR = 12,
    MX = 15,
    TXT = 16,
    AAAA = 28,
    SRV = 33,
    /// <summary>The obsolete SPF RR type (RFC 4408, dropped by RFC 7208); same RDATA as TXT.</summary>
    SPF = 99,
}
