using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace Mail.Auth.Dkim.Signing;

/// <summary>Makes key pairs and reads private keys back. Private keys are PKCS#8 PEM ("PRIVATE KEY") for both
/// types, the form `openssl pkey` reads and writes.</summary>
public static class DkimKeyMaterial
{
    public const int RsaBits = 2048;

    /// <summary>A new key pair: the private key as PEM, and p= for the DNS record.</summary>
    public static (string PrivateKeyPem, string PublicKey) Create(DkimKeyAlgorithm algorithm)
    {
        if (algorithm == DkimKeyAlgorithm.Rsa)
        {
            using var rsa = RSA.Create(RsaBits);
            return (rsa.ExportPkcs8PrivateKeyPem(), Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()));
        }
        var key = new Ed25519PrivateKeyParameters(new SecureRandom());
        var info = PrivateKeyInfoFactory.CreatePrivateKeyInfo(key);
        var pem = new string(PemEncoding.Write("PRIVATE KEY", info.GetDerEncoded())) + "\n";
        return (pem, Convert.ToBase64String(key.GeneratePublicKey().GetEncoded()));
    }

    /// <summary>Reads a PEM private key (PKCS#8, or PKCS#1 "RSA PRIVATE KEY"); throws <see cref="FormatException"/>.</summary>
    public static AsymmetricKeyParameter ReadPrivateKey(string pem)
    {
        object? read;
        try
        {
            using var reader = new PemReader(new StringReader(pem));
            read = reader.ReadObject();
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidCastException)
        {
            throw new FormatException("not a PEM private key: " + e.Message, e);
        }
        var key = read switch
        {
            AsymmetricCipherKeyPair pair => pair.Private,
            AsymmetricKeyParameter parameter => parameter,
            _ => null,
        };
        if (key is null || !key.IsPrivate) throw new FormatException("not a PEM private key");
        return key;
    }
}
