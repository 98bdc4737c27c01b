using System.Text.Json.Serialization;

namespace Mail.Core.Tls.Acme;

// The resources of RFC 8555 section 7.1, as much of each as this client reads or sends. Unknown members are ignored,
// so a CA that adds fields (ARI's renewalInfo, profiles) does not break us.
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
