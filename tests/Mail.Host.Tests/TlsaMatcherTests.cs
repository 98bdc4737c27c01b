using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mail.Core.Ports;
using Mail.Outbound.Tls.Dane;
using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>TLSA matching as SMTP uses it (RFC 7672 3.1), on certificates made for the purpose.</summary>
public sealed class TlsaMatcherTests
{
    private static readonly X509Certificate2 Server = TestCertificates.SelfSigned("mx.secure.test");
    private static readonly X509Certificate2 Other = TestCertificates.SelfSigned("mx.secure.test");

    private static DaneHost Host(params TlsaRecord[] records) => new(records, ["mx.secure.test", "secure.test"]);

    private static TlsaRecord Record(TlsaUsage usage, TlsaSelector selector, TlsaMatchingType matching, X509Certificate2 cert)
    {
        var selected = selector == TlsaSelector.Cert ? cert.RawData : cert.PublicKey.ExportSubjectPublicKeyInfo();
        var data = matching switch
        {
            TlsaMatchingType.Sha2_256 => SHA256.HashData(selected),
            TlsaMatchingType.Sha2_512 => SHA512.HashData(selected),
            _ => selected,
        };
        return new TlsaRecord(usage, selector, matching, data);
    }

    [Theory]
    [InlineData(TlsaSelector.Cert, TlsaMatchingType.Full)]
    [InlineData(TlsaSelector.Cert, TlsaMatchingType.Sha2_256)]
    [InlineData(TlsaSelector.Cert, TlsaMatchingType.Sha2_512)]
    [InlineData(TlsaSelector.Spki, TlsaMatchingType.Full)]
    [InlineData(TlsaSelector.Spki, TlsaMatchingType.Sha2_256)]
    [InlineData(TlsaSelector.Spki, TlsaMatchingType.Sha2_512)]
    public void Dane_ee_matches_its_own_certificate_and_no_other(TlsaSelector selector, TlsaMatchingType matching)
    {
        var record = Record(TlsaUsage.DaneEe, selector, matching, Server);
        Assert.True(TlsaMatcher.IsUsable(record));
        Assert.True(TlsaMatcher.Matches(record, Server));
        Assert.False(TlsaMatcher.Matches(record, Other));
        Assert.Null(TlsaMatcher.Verify(Host(record), Server, []));
        Assert.Contains("no TLSA record matches", TlsaMatcher.Verify(Host(record), Other, []), StringComparison.Ordinal);
    }

    [Fact]
    public void Dane_ee_ignores_the_name_and_the_expiry_of_the_certificate()
    {
        // RFC 7672 3.1.1: the key is what DNSSEC vouches for; names and dates are not checked.
        var elsewhere = TestCertificates.SelfSigned("unrelated.example", notAfter: DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Null(TlsaMatcher.Verify(Host(Record(TlsaUsage.DaneEe, TlsaSelector.Spki, TlsaMatchingType.Sha2_256, elsewhere)), elsewhere, []));
    }

    [Fact]
    public void Dane_ta_accepts_a_certificate_issued_by_the_anchor_for_the_mx_host_or_the_destination()
    {
        var ca = TestCertificates.Authority("Test DANE TA");
        var anchor = Record(TlsaUsage.DaneTa, TlsaSelector.Cert, TlsaMatchingType.Sha2_256, ca);
        Assert.Null(TlsaMatcher.Verify(Host(anchor), TestCertificates.Issue(ca, "mx.secure.test"), [ca]));
        Assert.Null(TlsaMatcher.Verify(Host(anchor), TestCertificates.Issue(ca, "secure.test"), [ca]));
        Assert.Null(TlsaMatcher.Verify(Host(Record(TlsaUsage.DaneTa, TlsaSelector.Spki, TlsaMatchingType.Sha2_512, ca)), TestCertificates.Issue(ca, "mx.secure.test"), [ca]));
    }

    [Fact]
    public void Dane_ta_may_name_an_intermediate_that_is_not_self_signed()
    {
        var root = TestCertificates.Authority("Test Root");
        var intermediate = TestCertificates.Authority("Test Issuing CA", root);
        var anchor = Host(Record(TlsaUsage.DaneTa, TlsaSelector.Spki, TlsaMatchingType.Sha2_256, intermediate));
        Assert.Null(TlsaMatcher.Verify(anchor, TestCertificates.Issue(intermediate, "mx.secure.test"), [intermediate]));
        // A sibling intermediate under the same root is not the anchor.
        var sibling = TestCertificates.Authority("Test Issuing CA", root);
        Assert.Equal("certificate does not chain to the DANE-TA trust anchor", TlsaMatcher.Verify(anchor, TestCertificates.Issue(sibling, "mx.secure.test"), [intermediate, sibling]));
    }

    [Fact]
    public void Dane_ta_refuses_another_name_another_issuer_and_a_chain_without_the_anchor()
    {
        var ca = TestCertificates.Authority("Test DANE TA");
        var anchor = Host(Record(TlsaUsage.DaneTa, TlsaSelector.Cert, TlsaMatchingType.Sha2_256, ca));
        Assert.Contains("names none of mx.secure.test, secure.test", TlsaMatcher.Verify(anchor, TestCertificates.Issue(ca, "mx.elsewhere.test"), [ca]), StringComparison.Ordinal);
        var impostor = TestCertificates.Issue(TestCertificates.Authority("Test DANE TA"), "mx.secure.test");
        Assert.Equal("certificate does not chain to the DANE-TA trust anchor", TlsaMatcher.Verify(anchor, impostor, [ca]));
        // RFC 7672 3.1.2: the server must send the anchor; one not sent is not looked for elsewhere.
        Assert.Contains("no TLSA record matches", TlsaMatcher.Verify(anchor, TestCertificates.Issue(ca, "mx.secure.test"), []), StringComparison.Ordinal);
    }

    [Fact]
    public void Pkix_usages_and_unknown_parameters_are_unusable()
    {
        // RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are not for SMTP, even when they would match.
        var pkixEe = Record(TlsaUsage.PkixEe, TlsaSelector.Spki, TlsaMatchingType.Sha2_256, Server);
        var pkixTa = Record(TlsaUsage.PkixTa, TlsaSelector.Cert, TlsaMatchingType.Sha2_256, Server);
        var unknownMatching = Record(TlsaUsage.DaneEe, TlsaSelector.Spki, TlsaMatchingType.Sha2_256, Server) with { MatchingType = (TlsaMatchingType)3 };
        var unknownSelector = Record(TlsaUsage.DaneEe, TlsaSelector.Spki, TlsaMatchingType.Sha2_256, Server) with { Selector = (TlsaSelector)2 };
        foreach (var r in new[] { pkixEe, pkixTa, unknownMatching, unknownSelector }) Assert.False(TlsaMatcher.IsUsable(r), r.ToString());
        var host = Host(pkixEe, pkixTa, unknownMatching, unknownSelector);
        Assert.False(host.HasUsable);
        Assert.Equal("no usable TLSA record", TlsaMatcher.Verify(host, Server, []));
        // One usable record among unusable ones is enough.
        Assert.Null(TlsaMatcher.Verify(Host(pkixEe, Record(TlsaUsage.DaneEe, TlsaSelector.Cert, TlsaMatchingType.Full, Server)), Server, []));
    }
}
