using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mail.Testing;

/// <summary>
/// Certificates for TLS peers in tests: a self-signed server certificate, a CA, and a server certificate the CA issued.
/// Each comes back loaded from PKCS#12 with its private key, which SslStream needs on every platform. ECDSA P-256 keys:
/// quick to make, and what TLSA records of real MX hosts mostly pin.
/// </summary>
public static class TestCertificates
{
    /// <summary>A server certificate for <paramref name="dnsName"/> (SAN and CN), signed by its own key.</summary>
    public static X509Certificate2 SelfSigned(string dnsName, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = ServerRequest(dnsName, key);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(30));
        return Reload(cert);
    }

    /// <summary>A CA certificate (basicConstraints CA, keyCertSign) that can issue with <see cref="Issue"/>: a self-signed
    /// root, or an intermediate when <paramref name="issuer"/> is given. (SslStream does not send a self-signed root in
    /// the chain, so a server that must present its trust anchor presents an intermediate.)</summary>
    public static X509Certificate2 Authority(string name, X509Certificate2? issuer = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (issuer is null)
        {
            using var root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(60));
            return Reload(root);
        }
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var cert = request.Create(issuer, DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(59), Serial());
        using var withKey = cert.CopyWithPrivateKey(key);
        return Reload(withKey);
    }

    /// <summary>A server certificate for <paramref name="dnsName"/> signed by <paramref name="authority"/>.</summary>
    public static X509Certificate2 Issue(X509Certificate2 authority, string dnsName)
    {
        ArgumentNullException.ThrowIfNull(authority);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = ServerRequest(dnsName, key);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        using var cert = request.Create(authority, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), Serial());
        using var withKey = cert.CopyWithPrivateKey(key);
        return Reload(withKey);
    }

    private static byte[] Serial()
    {
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        return serial;
    }

    private static CertificateRequest ServerRequest(string dnsName, ECDsa key)
    {
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request;
    }

    private static X509Certificate2 Reload(X509Certificate2 cert) =>
        X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
}
