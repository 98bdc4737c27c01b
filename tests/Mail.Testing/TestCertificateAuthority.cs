using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mail.Testing;

/// <summary>
/// A certificate authority made for one test: a self-signed root (ECDSA P-256) that issues server certificates for
/// given DNS names (subjectAltName, serverAuth). Its root is written as PEM for a server's trust-root setting
/// (Outbound:TlsCaFile); certificates of a second instance are "untrusted".
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificateAuthority(string name = "Mail Test CA")
    {
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    /// <summary>The root, with its private key.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>The root as PEM ("-----BEGIN CERTIFICATE-----").</summary>
    public string RootPem => Root.ExportCertificatePem();

    /// <summary>Writes <see cref="RootPem"/> to a file and returns its path.</summary>
    public string WriteRootPem(string path)
    {
        File.WriteAllText(path, RootPem);
        return path;
    }

    /// <summary>A server certificate for these DNS names (the first is also the CN), with its private key.</summary>
    public X509Certificate2 Issue(params string[] dnsNames)
    {
        ArgumentOutOfRangeException.ThrowIfZero(dnsNames.Length);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsNames[0]}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        var names = new SubjectAlternativeNameBuilder();
        foreach (var n in dnsNames) names.AddDnsName(n);
        request.CertificateExtensions.Add(names.Build());
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var issued = request.Create(Root, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        // A PKCS#12 round trip gives a certificate whose key every TLS stack (SslStream, Kestrel) can use.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Root.Dispose();
        _key.Dispose();
    }
}
