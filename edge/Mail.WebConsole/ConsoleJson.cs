using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Admin;

namespace Mail.WebConsole;

/// <summary>The JSON API's bodies, compiled ahead (no reflection: the Native AOT build serves the same API).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UseStringEnumConverter = true)]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(IReadOnlyList<UserInfo>))]
[JsonSerializable(typeof(IReadOnlyList<QueueItem>))]
[JsonSerializable(typeof(IReadOnlyList<QuarantineItem>))]
[JsonSerializable(typeof(IReadOnlyList<DkimKeyInfo>))]
[JsonSerializable(typeof(IReadOnlyList<AliasInfo>))]
[JsonSerializable(typeof(MessagePreview))]
[JsonSerializable(typeof(IReadOnlyList<MessageTrace>))]
[JsonSerializable(typeof(Mail.Admin.Dns.DomainDnsReport))]
[JsonSerializable(typeof(StatsReply))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(ApiDone))]
[JsonSerializable(typeof(DomainRequest))]
[JsonSerializable(typeof(UserRequest))]
[JsonSerializable(typeof(PasswordRequest))]
[JsonSerializable(typeof(SessionReply))]
[JsonSerializable(typeof(AliasRequest))]
[JsonSerializable(typeof(DkimRequest))]
[JsonSerializable(typeof(DkimRotation))]
[JsonSerializable(typeof(QuotaInfo))]
[JsonSerializable(typeof(QuotaRequest))]
[JsonSerializable(typeof(IReadOnlyList<SieveScriptInfo>))]
[JsonSerializable(typeof(SieveScriptRequest))]
[JsonSerializable(typeof(TopRejectedSlot))]
[JsonSerializable(typeof(StoredSession))]
internal sealed partial class ConsoleJson : JsonSerializerContext;

/// <param name="V">Format version of the API's bodies.</param>
public sealed record ApiError(string Error, int V = ConsoleApi.Version);

/// <summary>A state change done: what it was, on what.</summary>
public sealed record ApiDone(string Done, IReadOnlyList<string> Ids, int V = ConsoleApi.Version);

public sealed record AliasInfo(string Alias, IReadOnlyList<string> Targets);

/// <summary>/api/stats: the dashboard's numbers. <paramref name="Series"/> are per-minute counts, oldest first;
/// <paramref name="TopRejected"/> the most rejected clients (IP) and senders (MAIL FROM) of the last hour and day.</summary>
public sealed record StatsReply(DateTimeOffset LastMinute, IReadOnlyDictionary<string, long[]> Series, IReadOnlyDictionary<string, long> RejectedByReason,
    int QueueDepth, int Quarantined, TopRejectedLists TopRejected, int V = ConsoleApi.Version);

public sealed record DomainRequest(string? Domain);

public sealed record UserRequest(string? Address, string? Password, bool Admin = false);

public sealed record PasswordRequest(string? Password);

public sealed record AliasRequest(string? Alias, IReadOnlyList<string>? Targets);

/// <param name="Algorithm">rsa or ed25519; null: both.</param>
public sealed record DkimRequest(string? Domain, string? Selector, string? Algorithm);

/// <param name="Size">500M, 2G; "none" or 0: no limit; "default": Quota:Default again.</param>
public sealed record QuotaRequest(string? Size);

/// <summary>A Sieve script: uploaded (POST /api/users/ADDRESS/sieve) or read back (GET .../sieve/NAME, Activate then
/// says whether it is the active one).</summary>
public sealed record SieveScriptRequest(string? Name, string? Script, bool Activate = false, int V = ConsoleApi.Version);
