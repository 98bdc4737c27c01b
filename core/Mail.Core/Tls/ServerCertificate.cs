using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mail.Core.Tls;

/// <summary>A server certificate with its private key, and the intermediate certificates sent with it.</summary>
public sealed record CertificateChain(X509Certificate2 Leaf, IReadOnlyList<X509Certificate2> Intermediates);

/// <summary>
/// The certificate SMTP and IMAP present. Every TLS handshake reads <see cref="Context"/> as it starts, so a renewed
/// certificate given to <see cref="Replace"/> is presented by the next STARTTLS or implicit-TLS connection without a
/// restart; sessions already in TLS keep the one they negotiated.
/// </summary>
public sealed class ServerCertificate
{
    private sealed record Current(X509Certificate2 Certificate, SslStreamCertificateContext Context);

    private Current _current;

    public ServerCertificate(X509Certificate2 certificate) : this(new CertificateChain(certificate, [])) { }

    public ServerCertificate(CertificateChain chain) => _current = Build(chain);

    /// <summary>The leaf certificate presented now.</summary>
    public X509Certificate2 Certificate => Volatile.Read(ref _current).Certificate;

    /// <summary>What a handshake that starts now presents (SslServerAuthenticationOptions.ServerCertificateContext).</summary>
    public SslStreamCertificateContext Context => Volatile.Read(ref _current).Context;

    /// <summary>Presents <paramref name="chain"/> from the next handshake on. The old certificate is not disposed:
    /// a handshake that started a moment ago may still be using it.</summary>
    public void Replace(CertificateChain chain) => Volatile.Write(ref _current, Build(chain));

    /// <summary>For code and tests that have one fixed certificate.</summary>
    public static implicit operator ServerCertificate?(X509Certificate2? certificate) => certificate is null ? null : new(certificate);

    private static Current Build(CertificateChain chain)
    {
        if (!chain.Leaf.HasPrivateKey) throw new ArgumentException($"the certificate {chain.Leaf.Subject} has no private key", nameof(chain));
        // offline: the chain is built from what we were given, never by fetching intermediates over the network.
        var intermediates = chain.Intermediates.Count == 0 ? null : new X509Certificate2Collection(chain.Intermediates.ToArray());
        return new Current(chain.Leaf, SslStreamCertificateContext.Create(chain.Leaf, intermediates, offline: true));
    }
}
