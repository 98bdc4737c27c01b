using System.Text.Json.Serialization;

namespace Mail.Core.Tls.Acme;

// The resources of RFC 8555 section 7.1, as much of each as this client reads or sends. Unknown members are ignored,
// so a CA that adds fields (ARI's renewalInfo, profiles) does not break us.

/// <summary>RFC 8555 7.1.1: the directory, the one URL an operator configures ("Tls:Acme:Directory").</summary>
public sealed record AcmeDirectory(Uri NewNonce, Uri NewAccount, Uri NewOrder, AcmeDirectoryMeta? Meta = null);

/// <summary>RFC 8555 7.1.1 "meta".</summary>
public sealed record AcmeDirectoryMeta(string? TermsOfService = null, bool ExternalAccountRequired = false);

/// <summary>RFC 8555 7.1.6: the status of an account, order, authorization or challenge.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AcmeStatus>))]
public enum AcmeStatus
{
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("ready")] Ready,
    [JsonStringEnumMemberName("processing")] Processing,
    [JsonStringEnumMemberName("valid")] Valid,
    [JsonStringEnumMemberName("invalid")] Invalid,
    [JsonStringEnumMemberName("deactivated")] Deactivated,
    [JsonStringEnumMemberName("expired")] Expired,
    [JsonStringEnumMemberName("revoked")] Revoked,
}

/// <summary>RFC 8555 7.1.2 and 7.3: an account (the newAccount request and the CA's answer share the shape).</summary>
public sealed record AcmeAccount(AcmeStatus? Status = null, IReadOnlyList<string>? Contact = null, bool? TermsOfServiceAgreed = null);

/// <summary>RFC 8555 7.1.4: what a certificate is for; this client asks only for "dns".</summary>
public sealed record AcmeIdentifier(string Type, string Value)
{
    public static AcmeIdentifier Dns(string name) => new("dns", name);
}

/// <summary>RFC 8555 7.4: the newOrder request.</summary>
public sealed record AcmeNewOrder(IReadOnlyList<AcmeIdentifier> Identifiers);

/// <summary>RFC 8555 7.1.3: an order.</summary>
public sealed record AcmeOrder(AcmeStatus Status, IReadOnlyList<AcmeIdentifier> Identifiers, IReadOnlyList<Uri> Authorizations, Uri Finalize,
    Uri? Certificate = null, DateTimeOffset? Expires = null, AcmeProblem? Error = null);

/// <summary>RFC 8555 7.1.4: an authorization, one per identifier.</summary>
public sealed record AcmeAuthorization(AcmeStatus Status, AcmeIdentifier Identifier, IReadOnlyList<AcmeChallenge> Challenges, bool Wildcard = false);

/// <summary>RFC 8555 8: a challenge. Token is what HTTP-01 (8.3) serves under /.well-known/acme-challenge/.</summary>
public sealed record AcmeChallenge(string Type, Uri Url, AcmeStatus Status, string? Token = null, AcmeProblem? Error = null)
{
    public const string Http01 = "http-01";
    public const string TlsAlpn01 = "tls-alpn-01";
}

/// <summary>RFC 8555 7.4: the finalize request, the CSR in base64url DER.</summary>
public sealed record AcmeFinalize(string Csr);

/// <summary>
/// RFC 7807 problem document as RFC 8555 6.7 uses it: type "urn:ietf:params:acme:error:badNonce" and the like.
/// </summary>
public sealed record AcmeProblem(string? Type = null, string? Detail = null, int? Status = null, IReadOnlyList<AcmeProblem>? Subproblems = null, AcmeIdentifier? Identifier = null)
{
    public const string BadNonce = "urn:ietf:params:acme:error:badNonce";

    /// <summary>One line for the log: the type without its URN prefix, the detail, and each subproblem's.</summary>
    public override string ToString()
    {
        var type = Type?.Replace("urn:ietf:params:acme:error:", "", StringComparison.Ordinal) ?? "problem";
        var line = Detail is null ? type : $"{type}: {Detail}";
        if (Subproblems is { Count: > 0 })
            line += " (" + string.Join("; ", Subproblems.Select(s => s.Identifier is null ? s.ToString() : $"{s.Identifier.Value}: {s}")) + ")";
        return line.ReplaceLineEndings(" ");
    }
}

/// <summary>The CA answered with a problem document (or an error status without one).</summary>
public sealed class AcmeProblemException(AcmeProblem problem, Uri url) : Exception($"{problem} (from {url})")
{
    public AcmeProblem Problem { get; } = problem;
}

/// <summary>RFC 7515 7.2.2: the flattened JWS JSON serialization every ACME POST carries.</summary>
public sealed record JwsMessage(string Protected, string Payload, string Signature);

/// <summary>RFC 8555 6.2: the protected header: "jwk" for newAccount, "kid" (the account URL) for the rest.</summary>
public sealed record JwsHeader(string Alg, string Nonce, string Url, AcmeJwk? Jwk = null, string? Kid = null);

/// <summary>RFC 7517/7518: the account's P-256 public key. Members in the order RFC 7638 hashes them.</summary>
public sealed record AcmeJwk(string Crv, string Kty, string X, string Y);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AcmeDirectory))]
[JsonSerializable(typeof(AcmeAccount))]
[JsonSerializable(typeof(AcmeNewOrder))]
[JsonSerializable(typeof(AcmeOrder))]
[JsonSerializable(typeof(AcmeAuthorization))]
[JsonSerializable(typeof(AcmeChallenge))]
[JsonSerializable(typeof(AcmeFinalize))]
[JsonSerializable(typeof(AcmeProblem))]
[JsonSerializable(typeof(JwsMessage))]
[JsonSerializable(typeof(JwsHeader))]
[JsonSerializable(typeof(AcmeJwk))]
internal sealed partial class AcmeJson : JsonSerializerContext;
