using System.Security.Cryptography;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Ed25519Algorithm = NSec.Cryptography.SignatureAlgorithm;
using NSecKey = NSec.Cryptography.Key;
using NSecKeyBlobFormat = NSec.Cryptography.KeyBlobFormat;

namespace Mail.Auth.Dkim.Signing;

/// <summary>
/// An active key ready to sign: its public facts, the private key as MimeKit takes it (BouncyCastle), and for RSA
/// the same key in the platform's cryptography (OpenSSL on Linux): RSA signing is the outbound stage's largest CPU
/// cost, and native big-number arithmetic does it far cheaper than BouncyCastle's managed code (figures:
/// bench/README.md, "Figures behind the code"). For Ed25519 the same key in libsodium (NSec): native signing
/// takes about a third of BouncyCastle's managed time (bench/README.md, "Ed25519 through libsodium").
/// </summary>
public sealed class DkimSigningKey
{
    private readonly RSA? _rsa;
    private readonly Lock _rsaLock = new();
    private readonly NSecKey? _ed25519;

    private DkimSigningKey(DkimKey key, AsymmetricKeyParameter privateKey, RSA? rsa, NSecKey? ed25519) =>
        (Key, PrivateKey, _rsa, _ed25519) = (key, privateKey, rsa, ed25519);

    public DkimKey Key { get; }
    public AsymmetricKeyParameter PrivateKey { get; }

    public DkimSignatureAlgorithm SignatureAlgorithm =>
        Key.Algorithm == DkimKeyAlgorithm.Rsa ? DkimSignatureAlgorithm.RsaSha256 : DkimSignatureAlgorithm.Ed25519Sha256;

    /// <exception cref="FormatException">Not a PEM private key.</exception>
    public static DkimSigningKey FromPem(DkimKey key, string pem)
    {
        var privateKey = DkimKeyMaterial.ReadPrivateKey(pem);
        RSA? rsa = null;
        NSecKey? ed25519 = null;
#pragma warning disable CA2000 // ownership moves to the DkimSigningKey, which signs with it for as long as the key is cached
        if (key.Algorithm == DkimKeyAlgorithm.Rsa)
        {
            rsa = RSA.Create();
            rsa.ImportFromPem(pem);
        }
        else if (privateKey is Ed25519PrivateKeyParameters edKey)
        {
            // The 32-byte seed (RFC 8032 5.1.5), which is what PKCS#8 holds for Ed25519 (RFC 8410 7).
            ed25519 = NSecKey.Import(Ed25519Algorithm.Ed25519, edKey.GetEncoded(), NSecKeyBlobFormat.RawPrivateKey);
        }
        else
        {
            throw new FormatException("not an Ed25519 private key");
        }
#pragma warning restore CA2000
        return new DkimSigningKey(key, privateKey, rsa, ed25519);
    }

    /// <summary>
    /// b= for a header hash (SHA-256 of the canonicalized header fields, RFC 6376 3.7): RSASSA-PKCS1-v1_5 over that
    /// hash (rsa-sha256), or PureEdDSA Ed25519 over its 32 bytes (ed25519-sha256, RFC 8463 3).
    /// </summary>
    internal byte[] SignHeaderHash(byte[] sha256)
    {
        if (_rsa is not null)
        {
            // An RSA object is not documented as safe for concurrent use; one signature takes about a millisecond.
            lock (_rsaLock) return _rsa.SignHash(sha256, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        // libsodium's crypto_sign_detached: stateless, safe to call from several threads with one key.
        return Ed25519Algorithm.Ed25519.Sign(_ed25519!, sha256);
    }

    /// <summary>MimeKit's signing context: the platform's RSA where there is one, else BouncyCastle's (null).</summary>
    internal ISigner? CreatePlatformSigner() => _rsa is null ? null : new PlatformRsaSha256Signer(_rsa, _rsaLock);

    /// <summary>rsa-sha256 (RSASSA-PKCS1-v1_5 over SHA-256, RFC 6376 3.3.1) as BouncyCastle's ISigner, which MimeKit
    /// feeds the canonicalized header block. Signing only.</summary>
    private sealed class PlatformRsaSha256Signer(RSA rsa, Lock rsaLock) : ISigner
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public string AlgorithmName => "SHA-256withRSA";
        public void Init(bool forSigning, ICipherParameters parameters) => throw new NotSupportedException();
        public void Update(byte input) => _hash.AppendData([input]);
        public void BlockUpdate(byte[] input, int inOff, int inLen) => _hash.AppendData(input, inOff, inLen);
        public void BlockUpdate(ReadOnlySpan<byte> input) => _hash.AppendData(input);
        public int GetMaxSignatureSize() => rsa.KeySize / 8;

        public byte[] GenerateSignature()
        {
            var digest = _hash.GetHashAndReset();
            // An RSA object is not documented as safe for concurrent use; one signature takes about a millisecond.
            lock (rsaLock) return rsa.SignHash(digest, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }

        public bool VerifySignature(byte[] signature) => throw new NotSupportedException();
        public void Reset() => _hash.GetHashAndReset();
    }
}
