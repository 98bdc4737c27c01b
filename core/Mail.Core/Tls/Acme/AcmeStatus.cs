using System.Text.Json.Serialization;

namespace Mail.Core.Tls.Acme;

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
