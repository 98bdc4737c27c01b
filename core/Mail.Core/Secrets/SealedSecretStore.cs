using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;

namespace Mail.Core.Secrets;

/// <summary>
/// Secrets sealed with AES-256-GCM under a key-encryption key (setting <c>Dkim:KeyEncryptionKey</c>) and kept in
/// the state store, for the cloud hosting where no local file outlives the instance. The row holds only
/// ciphertext: reading the Table gives nothing without the key. The name is the associated data, so a sealed
/// value moved to another name does not open.
/// Row format (versioned): <c>v1:</c> base64(nonce 12 | tag 16 | ciphertext).
/// </summary>
public sealed class SealedSecretStore : ISecretStore
{
    private const string Partition = "secret";
    private const string Version = "v1:";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly IStateStore _state;
    private readonly byte[] _key;

    /// <param name="keyEncryptionKey">32 bytes.</param>
    public SealedSecretStore(IStateStore state, byte[] keyEncryptionKey)
    {
        if (keyEncryptionKey.Length != 32) throw new ArgumentException("the key-encryption key must be 32 bytes (AES-256)", nameof(keyEncryptionKey));
        _state = state;
        _key = keyEncryptionKey;
    }

    /// <summary>Parses the setting's value (base64 of 32 bytes); null with a one-line reason when it is not one.</summary>
    public static byte[]? ParseKey(string? base64, out string? error)
    {
        error = null;
        try
        {
            var key = Convert.FromBase64String(base64?.Trim() ?? "");
            if (key.Length == 32) return key;
        }
        catch (FormatException)
        {
        }
        error = "must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)";
        return null;
    }

    public async Task CreateAsync(string name, string value, CancellationToken cancellationToken = default)
    {
        SecretName.Validate(name);
        if (!await _state.TryPutAsync(Partition, name, Seal(name, value), expectedVersion: null, cancellationToken: cancellationToken))
            throw new InvalidOperationException($"secret {name} already exists");
    }

    public async Task<string?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        SecretName.Validate(name);
        var entry = await _state.GetAsync(Partition, name, cancellationToken);
        return entry is null ? null : Open(name, entry.Value);
    }

    public Task DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        SecretName.Validate(name);
        return _state.DeleteAsync(Partition, name, cancellationToken);
    }

    private string Seal(string name, string value)
    {
        var plain = Encoding.UTF8.GetBytes(value);
        var sealedBytes = new byte[NonceSize + TagSize + plain.Length];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceSize + TagSize), sealedBytes.AsSpan(NonceSize, TagSize), Encoding.UTF8.GetBytes(name));
        CryptographicOperations.ZeroMemory(plain);
        return Version + Convert.ToBase64String(sealedBytes);
    }

    private string Open(string name, string row)
    {
        if (!row.StartsWith(Version, StringComparison.Ordinal))
            throw new InvalidOperationException($"secret {name}: unknown format (expected {Version})");
        var sealedBytes = Convert.FromBase64String(row[Version.Length..]);
        if (sealedBytes.Length < NonceSize + TagSize) throw new InvalidOperationException($"secret {name}: truncated");
        var plain = new byte[sealedBytes.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        try
        {
            aes.Decrypt(sealedBytes.AsSpan(0, NonceSize), sealedBytes.AsSpan(NonceSize + TagSize), sealedBytes.AsSpan(NonceSize, TagSize), plain, Encoding.UTF8.GetBytes(name));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new InvalidOperationException($"secret {name} does not open with this key-encryption key (Dkim:KeyEncryptionKey changed?)");
        }
        return Encoding.UTF8.GetString(plain);
    }
}
