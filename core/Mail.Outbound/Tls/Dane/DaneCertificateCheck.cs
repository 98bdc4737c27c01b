using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mail.Outbound.Tls.Dane;

/// <summary>
/// The TLS certificate callback of one connection to a host with usable TLSA records: the handshake succeeds only when
/// <see cref="TlsaMatcher.Verify"/> accepts the server's certificates, whatever the system's CA store thinks (RFC 7672
/// 3.1: DANE replaces PKIX for SMTP). Keeps why it refused, for the 4.7.5 deferral text.
/// </summary>
public sealed class DaneCertificateCheck(DaneHost dane)
{
    /// <summary>Why the last handshake's certificate was refused; null when accepted or not yet seen.</summary>
    public string? Failure { get; private set; }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            Failure = "the server sent no certificate";
            return false;
        }
        // A copy made here is ours to dispose; the certificate SslStream handed us is not.
        using var copied = certificate is X509Certificate2 ? null : new X509Certificate2(certificate);
        var leaf = certificate as X509Certificate2 ?? copied!;
        // What the server sent besides its own certificate: .NET puts it in the chain's extra store and uses what it can.
        var presented = new List<X509Certificate2>();
        if (chain is not null)
        {
            presented.AddRange(chain.ChainPolicy.ExtraStore);
            presented.AddRange(chain.ChainElements.Select(e => e.Certificate));
        }
        presented = presented.Where(c => !c.RawData.AsSpan().SequenceEqual(leaf.RawData)).DistinctBy(c => c.Thumbprint).ToList();
        Failure = TlsaMatcher.Verify(dane, leaf, presented);
        return Failure is null;
    }
}
