using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Mail.Core.Tls;

namespace Mail.WebConsole;

/// <summary>
/// Signs an Apple configuration profile as iOS and macOS expect (CMS SignedData, the profile as its encapsulated
/// content, DER): with the server's TLS certificate and the intermediates it presents, so a profile from a server with a
/// certificate from a public CA shows as "Verified" and one that was changed on the way does not install. The signer is
/// the mail listeners' certificate read now, so a renewed one signs from the next download on. System.Security.
/// Cryptography.Pkcs comes with the ASP.NET Core shared framework and is trimming- and AOT-safe.
/// </summary>
public static class ProfileSigner
{
    public static byte[] Sign(string profileXml, ServerCertificate certificate)
    {
        var signed = new SignedCms(new ContentInfo(Encoding.UTF8.GetBytes(profileXml)), detached: false);
        // EndCertOnly plus the intermediates by hand: no chain building (which could reach for the network).
        var signer = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, certificate.Certificate)
        {
            IncludeOption = X509IncludeOption.EndCertOnly,
            DigestAlgorithm = new Oid("2.16.840.1.101.3.4.2.1"), // SHA-256
        };
        foreach (var intermediate in certificate.Context.IntermediateCertificates) signer.Certificates.Add(intermediate);
        signed.ComputeSignature(signer, silent: true);
        return signed.Encode();
    }
}
