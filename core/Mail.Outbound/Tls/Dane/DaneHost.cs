using Mail.Core.Ports;

namespace Mail.Outbound.Tls.Dane;

/// <summary>
/// The DANE state of one MX host (RFC 7672 2.2): its DNSSEC-validated TLSA records, or the failure of a TLSA lookup that
/// had to succeed (the host's MX and address answers were secure, so "no answer" cannot be told from an attack).
/// </summary>
/// <param name="ReferenceNames">Names a DANE-TA(2) certificate may carry (RFC 7672 3.2.2): the MX host name (the TLSA
/// base domain), then the next-hop domain.</param>
public sealed record DaneHost(IReadOnlyList<TlsaRecord> Tlsa, IReadOnlyList<string> ReferenceNames, string? LookupFailure = null)
{
    /// <summary>At least one record this client can use: STARTTLS is mandatory and the certificate must match one.</summary>
    public bool HasUsable => Tlsa.Any(TlsaMatcher.IsUsable);

    /// <summary>What a kept connection was verified against: a connection is reused only for the same DANE state.</summary>
    public string Key => LookupFailure is not null ? "dane-failed" : $"dane:{string.Join(',', ReferenceNames)}:{string.Join(';', Tlsa)}";
}
