using System.Text;
using System.Text.Json.Serialization;

namespace Mail.Auth.Dkim.Signing;

/// <summary>The two key types we sign with: k=rsa (2048 bits, a=rsa-sha256) and k=ed25519 (RFC 8463, a=ed25519-sha256).</summary>
public enum DkimKeyAlgorithm
{
    Rsa,
    Ed25519,
}

public static class DkimKeyAlgorithms
{
    /// <summary>The k= tag value, also the name on the command line.</summary>
    public static string Name(this DkimKeyAlgorithm algorithm) => algorithm == DkimKeyAlgorithm.Rsa ? "rsa" : "ed25519";

    /// <summary>The letter a default selector ends with.</summary>
    public static char Suffix(this DkimKeyAlgorithm algorithm) => algorithm == DkimKeyAlgorithm.Rsa ? 'r' : 'e';

    public static DkimKeyAlgorithm? Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "rsa" => DkimKeyAlgorithm.Rsa,
        "ed25519" => DkimKeyAlgorithm.Ed25519,
        _ => null,
    };
}

/// <summary>
/// One signing key's public facts, as kept in the state store (partition <c>dkim:DOMAIN</c>, key = selector).
/// The private key is a secret of its own (<see cref="SecretName"/>); this record is safe to list.
/// </summary>
public sealed record DkimKey
{
    /// <summary>Format of the stored record.</summary>
    public int V { get; init; } = 1;
    public required string Domain { get; init; }
    public required string Selector { get; init; }
    public required DkimKeyAlgorithm Algorithm { get; init; }
    /// <summary>p=: base64 of the SubjectPublicKeyInfo (RSA) or of the raw 32-byte key (Ed25519, RFC 8463 4.2).</summary>
    public required string PublicKey { get; init; }
    public required DateTimeOffset Created { get; init; }
    /// <summary>When a rotation replaced it: it signs no more, and stays published until <see cref="PublishedUntil"/>.</summary>
    public DateTimeOffset? Retired { get; init; }
    public DateTimeOffset? PublishedUntil { get; init; }

    [JsonIgnore] public bool IsActive => Retired is null;

    /// <summary>Where the private key is kept in the <see cref="Mail.Core.Ports.ISecretStore"/>.</summary>
    [JsonIgnore] public string SecretName => SecretNameOf(Domain, Selector);

    public static string SecretNameOf(string domain, string selector) => $"dkim/{domain}/{selector}.pem";

    /// <summary>The TXT record's text (RFC 6376 3.6.1).</summary>
    [JsonIgnore] public string DnsRecord => $"v=DKIM1; k={Algorithm.Name()}; p={PublicKey}";

    [JsonIgnore] public string DnsName => $"{Selector}._domainkey.{Domain}";

    /// <summary>The record as one zone-file line. A TXT string holds at most 255 octets (RFC 1035 3.3.14), so a
    /// 2048-bit RSA key's record is split into several quoted strings, which resolvers join back into one.</summary>
    [JsonIgnore]
    public string ZoneFileLine
    {
        get
        {
            var text = DnsRecord;
            var line = new StringBuilder(DnsName).Append(". IN TXT");
            for (var i = 0; i < text.Length; i += 255)
                line.Append(" \"").Append(text.AsSpan(i, Math.Min(255, text.Length - i))).Append('"');
            return line.ToString();
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DkimKey))]
internal sealed partial class DkimJson : JsonSerializerContext;
