using System.Globalization;
using Mail.Auth.Dkim.Signing;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Core.Secrets;
using Microsoft.Extensions.Configuration;

namespace Mail.Configuration;

/// <summary>
/// Section "Dkim": outbound signing keys, the same way for the embedded host, the Functions app and the CLI.
/// <c>Dkim:RetiredKeyDays</c> (default 7): how long a rotated-out key stays published.
/// <c>Dkim:KeyEncryptionKey</c> (cloud): 32 random bytes in base64 that seal private keys in Table storage.
/// <c>Dkim:KeyCacheTtl</c> (default 5 s, 0 off, at most 1 hour): how long the signer trusts a domain's active keys.
/// </summary>
public static class DkimSettings
{
    public const string SectionName = "Dkim";
    public const int DefaultRetiredKeyDays = 7;
    public static readonly TimeSpan DefaultKeyCacheTtl = TimeSpan.FromSeconds(5);

    public static TimeSpan RetiredKeyPublished(IConfiguration configuration)
    {
        var text = configuration[$"{SectionName}:RetiredKeyDays"];
        if (string.IsNullOrWhiteSpace(text)) return TimeSpan.FromDays(DefaultRetiredKeyDays);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var days) || days > 3650)
            throw new SettingsException($"{SectionName}:RetiredKeyDays: '{text}' is not a number of days (0-3650)");
        return TimeSpan.FromDays(days);
    }

    public static TimeSpan KeyCacheTtl(IConfiguration configuration)
    {
        var text = configuration[$"{SectionName}:KeyCacheTtl"];
        if (string.IsNullOrWhiteSpace(text)) return DefaultKeyCacheTtl;
        if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var ttl) || ttl < TimeSpan.Zero || ttl > TimeSpan.FromHours(1))
            throw new SettingsException($"{SectionName}:KeyCacheTtl: '{text}' is not a time span between 00:00:00 and 01:00:00");
        return ttl;
    }

    /// <summary>The cloud store for private keys: sealed rows in the state store; null when no key-encryption key is set.</summary>
    public static ISecretStore? SealedSecrets(IConfiguration configuration, IStateStore state)
    {
        var text = configuration[$"{SectionName}:KeyEncryptionKey"];
        if (string.IsNullOrWhiteSpace(text)) return null;
        var key = SealedSecretStore.ParseKey(text, out var error) ?? throw new SettingsException($"{SectionName}:KeyEncryptionKey: {error}");
        return new SealedSecretStore(state, key);
    }

    /// <summary>A process's key store: build one and give it to the signer, the sealer and the console alike, so a key
    /// the console adds or rotates signs at once (the cache of active keys is per instance).</summary>
    public static DkimKeyStore BuildKeyStore(IConfiguration configuration, IStateStore state, ISecretStore? secrets, MailDirectory directory) =>
        new(state, secrets, directory, RetiredKeyPublished(configuration), keyCacheTtl: KeyCacheTtl(configuration));

    /// <summary>The inbound stage's ARC sealer for forwarded mail: our domains' RSA keys, or nothing without a key store.</summary>
    public static IForwardSealer BuildSealer(DkimKeyStore keys) => keys.CanSign ? new Mail.Auth.Arc.ArcSealer(keys) : NoForwardSealer.Instance;

    /// <summary>The outbound stage's signer: signs with our domains' keys, or nothing where private keys have no store.</summary>
    public static IOutboundSigner BuildSigner(DkimKeyStore keys) => keys.CanSign ? new DkimMessageSigner(keys) : NoOutboundSigner.Instance;
}
