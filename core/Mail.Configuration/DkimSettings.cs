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
/// </summary>
public static class DkimSettings
{
    public const string SectionName = "Dkim";
    public const int DefaultRetiredKeyDays = 7;

    public static TimeSpan RetiredKeyPublished(IConfiguration configuration)
    {
        var text = configuration[$"{SectionName}:RetiredKeyDays"];
        if (string.IsNullOrWhiteSpace(text)) return TimeSpan.FromDays(DefaultRetiredKeyDays);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var days) || days > 3650)
            throw new SettingsException($"{SectionName}:RetiredKeyDays: '{text}' is not a number of days (0-3650)");
        return TimeSpan.FromDays(days);
    }

    /// <summary>The cloud store for private keys: sealed rows in the state store; null when no key-encryption key is set.</summary>
    public static ISecretStore? SealedSecrets(IConfiguration configuration, IStateStore state)
    {
        var text = configuration[$"{SectionName}:KeyEncryptionKey"];
        if (string.IsNullOrWhiteSpace(text)) return null;
        var key = SealedSecretStore.ParseKey(text, out var error) ?? throw new SettingsException($"{SectionName}:KeyEncryptionKey: {error}");
        return new SealedSecretStore(state, key);
    }

    public static DkimKeyStore BuildKeyStore(IConfiguration configuration, IStateStore state, ISecretStore? secrets, MailDirectory directory) =>
        new(state, secrets, directory, RetiredKeyPublished(configuration));

    /// <summary>The outbound stage's signer: signs with our domains' keys, or nothing where private keys have no store.</summary>
    /// <summary>The inbound stage's ARC sealer for forwarded mail: our domains' RSA keys, or nothing without a key store.</summary>
    public static IForwardSealer BuildSealer(IConfiguration configuration, IStateStore state, ISecretStore? secrets, MailDirectory directory) =>
        secrets is null ? NoForwardSealer.Instance : new Mail.Auth.Arc.ArcSealer(BuildKeyStore(configuration, state, secrets, directory));

    public static IOutboundSigner BuildSigner(IConfiguration configuration, IStateStore state, ISecretStore? secrets, MailDirectory directory) =>
        secrets is null ? NoOutboundSigner.Instance : new DkimMessageSigner(BuildKeyStore(configuration, state, secrets, directory));
}
