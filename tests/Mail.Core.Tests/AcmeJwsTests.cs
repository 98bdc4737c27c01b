using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Mail.Core.Tls.Acme;

namespace Mail.Core.Tests;

/// <summary>
/// The shapes the CA checks, with a fixed key: the RFC 7638 thumbprint, the JWS of RFC 8555 6.2 (ES256, "jwk" or
/// "kid", nonce, url), the key authorization of 8.1 and the CSR of 7.4. The exchange itself is tested against
/// Pebble (AcmeHostTests).
/// </summary>
public sealed class AcmeJwsTests
{
    // RFC 7517 appendix A.2's P-256 key; its thumbprint computed independently (Python: sorted members, no spaces, SHA-256).
    private const string X = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    private const string Y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
    private const string D = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE";
    private const string Thumbprint = "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s";

    private static AcmeAccountKey FixedKey() => new(ECDsa.Create(new ECParameters
    {
        Curve = ECCurve.NamedCurves.nistP256,
        Q = new ECPoint { X = Base64Url.Decode(X), Y = Base64Url.Decode(Y) },
        D = Base64Url.Decode(D),
    }));

    [Fact]
    public void Thumbprint_and_key_authorization_follow_rfc_7638_and_8555()
    {
        using var key = FixedKey();
        Assert.Equal(new AcmeJwk("P-256", "EC", X, Y), key.Jwk);
        Assert.Equal(Thumbprint, key.Thumbprint);
        Assert.Equal($"token-1.{Thumbprint}", key.KeyAuthorization("token-1"));
    }

    [Fact]
    public void New_account_is_signed_with_jwk_and_verifies_under_the_public_key_alone()
    {
        using var key = FixedKey();
        var payload = """{"termsOfServiceAgreed":true}"""u8.ToArray();
        var jws = key.Sign(new JwsHeader("ES256", "nonce-1", "https://ca.example/new-acct", Jwk: key.Jwk), payload);

        using var header = JsonDocument.Parse(Base64Url.Decode(jws.Protected));
        var h = header.RootElement;
        Assert.Equal("ES256", h.GetProperty("alg").GetString());
        Assert.Equal("nonce-1", h.GetProperty("nonce").GetString());
        Assert.Equal("https://ca.example/new-acct", h.GetProperty("url").GetString());
        Assert.Equal(X, h.GetProperty("jwk").GetProperty("x").GetString());
        Assert.Equal("EC", h.GetProperty("jwk").GetProperty("kty").GetString());
        Assert.False(h.TryGetProperty("kid", out _)); // RFC 8555 6.2: jwk and kid are mutually exclusive
        Assert.Equal(payload, Base64Url.Decode(jws.Payload));

        // ES256 is R||S, 64 bytes (RFC 7518 3.4); checked with a key built from the JWK's public coordinates only.
        var signature = Base64Url.Decode(jws.Signature);
        Assert.Equal(64, signature.Length);
        using var verifier = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = Base64Url.Decode(X), Y = Base64Url.Decode(Y) } });
        Assert.True(verifier.VerifyData(Encoding.ASCII.GetBytes($"{jws.Protected}.{jws.Payload}"), signature, HashAlgorithmName.SHA256));
        Assert.False(verifier.VerifyData(Encoding.ASCII.GetBytes($"{jws.Protected}.{jws.Payload}x"), signature, HashAlgorithmName.SHA256));
    }

    [Fact]
    public void Later_requests_name_the_account_with_kid_and_post_as_get_has_an_empty_payload()
    {
        using var key = FixedKey();
        var jws = key.Sign(new JwsHeader("ES256", "n", "https://ca.example/order/1", Kid: "https://ca.example/acct/7"), []);
        using var header = JsonDocument.Parse(Base64Url.Decode(jws.Protected));
        Assert.Equal("https://ca.example/acct/7", header.RootElement.GetProperty("kid").GetString());
        Assert.False(header.RootElement.TryGetProperty("jwk", out _));
        Assert.Equal("", jws.Payload); // RFC 8555 6.3: POST-as-GET
        Assert.True(key.Verify(jws));
    }

    [Fact]
    public void Csr_names_every_host_in_the_san_and_is_signed_by_the_certificate_key()
    {
        using var certificateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var der = AcmeIssuer.CertificateSigningRequest(["mail.example.org", "autoconfig.example.org"], certificateKey);
        // LoadSigningRequest checks the CSR's own signature.
        var request = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        Assert.Equal("CN=mail.example.org", request.SubjectName.Name);
        var san = request.CertificateExtensions.OfType<X509Extension>().Single(e => e.Oid?.Value == "2.5.29.17");
        Assert.Equal(["mail.example.org", "autoconfig.example.org"], new X509SubjectAlternativeNameExtension(san.RawData).EnumerateDnsNames());
        Assert.Equal(certificateKey.ExportSubjectPublicKeyInfo(), request.PublicKey.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Problem_is_one_line_with_its_subproblems()
    {
        var problem = new AcmeProblem("urn:ietf:params:acme:error:rejectedIdentifier", "Some identifiers\nwere rejected", 400,
            [new AcmeProblem("urn:ietf:params:acme:error:dns", "NXDOMAIN", Identifier: AcmeIdentifier.Dns("a.example.org"))]);
        Assert.Equal("rejectedIdentifier: Some identifiers were rejected (a.example.org: dns: NXDOMAIN)", problem.ToString());
    }
}
