using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mail.Core.Ports;

namespace Mail.Outbound.Tls.Dane;

/// <summary>
/// Matches a TLS server's certificates against TLSA records the way SMTP uses them (RFC 7672 3.1): DANE-EE(3) matches
/// the leaf certificate or its public key, with no name, expiry or chain check (3.1.1); DANE-TA(2) names a trust anchor
/// among the certificates the server sent, the leaf must chain to it and carry one of the reference names (3.1.2,
/// 3.2.2). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (3.1.3), as are selectors and matching types RFC 6698
/// does not define.
/// </summary>
public static class TlsaMatcher
{
    /// <summary>A record this client can act on: DANE-TA or DANE-EE, Cert or SPKI, Full or SHA2-256 or SHA2-512.</summary>
    public static bool IsUsable(TlsaRecord record) =>
        record.Usage is TlsaUsage.DaneTa or TlsaUsage.DaneEe
        && record.Selector is TlsaSelector.Cert or TlsaSelector.Spki
        && record.MatchingType is TlsaMatchingType.Full or TlsaMatchingType.Sha2_256 or TlsaMatchingType.Sha2_512
        && record.Data.Length > 0;

    /// <summary>True when the record's selector and matching type applied to the certificate give the record's data.</summary>
    public static bool Matches(TlsaRecord record, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(certificate);
        byte[] selected = record.Selector switch
        {
            TlsaSelector.Cert => certificate.RawData,
            TlsaSelector.Spki => certificate.PublicKey.ExportSubjectPublicKeyInfo(),
            _ => [],
        };
        if (selected.Length == 0) return false;
        byte[] associated = record.MatchingType switch
        {
            TlsaMatchingType.Full => selected,
            TlsaMatchingType.Sha2_256 => SHA256.HashData(selected),
            TlsaMatchingType.Sha2_512 => SHA512.HashData(selected),
            _ => [],
        };
        return associated.Length > 0 && CryptographicOperations.FixedTimeEquals(associated, record.Data);
    }

    /// <summary>
    /// Null when the server's certificates satisfy one usable record, else why not (for the 4.7.5 deferral).
    /// </summary>
    /// <param name="leaf">The server's certificate.</param>
    /// <param name="presented">Every other certificate the server sent (its chain, in any order).</param>
    public static string? Verify(DaneHost dane, X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented)
    {
        ArgumentNullException.ThrowIfNull(dane);
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(presented);
        var usable = dane.Tlsa.Where(IsUsable).ToList();
        if (usable.Count == 0) return "no usable TLSA record";
        foreach (var record in usable.Where(r => r.Usage == TlsaUsage.DaneEe))
            if (Matches(record, leaf)) return null;
        var taRecords = usable.Where(r => r.Usage == TlsaUsage.DaneTa).ToList();
        if (taRecords.Count > 0)
        {
            // RFC 7672 3.1.2: the server sends the trust anchor in its chain; a self-signed leaf can be its own anchor.
            var anchors = presented.Append(leaf).Where(c => taRecords.Any(r => Matches(r, c))).ToList();
            foreach (var anchor in anchors)
            {
                if (!ChainsTo(leaf, anchor, presented)) continue;
                if (dane.ReferenceNames.Any(n => leaf.MatchesHostname(n, allowWildcards: true, allowCommonName: true))) return null;
                return $"certificate chains to the DANE-TA trust anchor but names none of {string.Join(", ", dane.ReferenceNames)}";
            }
            if (anchors.Count > 0) return "certificate does not chain to the DANE-TA trust anchor";
        }
        return $"no TLSA record matches the certificate (subject {leaf.Subject}; TLSA {string.Join("; ", usable)})";
    }

    /// <summary>The leaf builds a valid chain (signatures, validity dates) ending at the anchor, using only what the server sent.</summary>
    private static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 anchor, IReadOnlyList<X509Certificate2> presented)
    {
        if (leaf.RawData.AsSpan().SequenceEqual(anchor.RawData)) return true;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(anchor);
        chain.ChainPolicy.ExtraStore.AddRange(presented.ToArray());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // RFC 7672 3.1.2: the anchor need not be self-signed; an intermediate named in TLSA ends the chain.
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority;
        if (!chain.Build(leaf)) return false;
        // AllowUnknownCertificateAuthority must not let a chain to some other root pass: the anchor must be in it.
        return chain.ChainElements.Any(e => e.Certificate.RawData.AsSpan().SequenceEqual(anchor.RawData));
    }
}
