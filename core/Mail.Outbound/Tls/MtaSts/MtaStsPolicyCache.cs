using System.Text.Json;
using System.Text.Json.Serialization;
using Mail.Core.Ports;

namespace Mail.Outbound.Tls.MtaSts;

/// <summary>A policy as fetched, with the TXT id it was fetched for.</summary>
public sealed record CachedMtaStsPolicy(string Id, MtaStsPolicy Policy, DateTimeOffset FetchedAt)
{
    public DateTimeOffset ExpiresAt => FetchedAt + Policy.MaxAge;
}

/// <summary>
/// Fetched policies in the state store (partition <see cref="Partition"/>, key: the domain in lower case), kept until
/// their max_age passes (the entry's expiry), so every instance of the system shares them and a restart keeps them
/// (RFC 8461 5.1: a cached unexpired policy is used when a new one cannot be fetched). JSON with a format version: an
/// entry from a newer build is left alone and read as absent.
/// </summary>
public sealed class MtaStsPolicyCache(IStateStore state, TimeProvider time)
{
    public const string Partition = "mta-sts";

    public const int CurrentFormatVersion = 1;

    public async Task<CachedMtaStsPolicy?> GetAsync(string domain, CancellationToken cancellationToken)
    {
        var entry = await state.GetAsync(Partition, Key(domain), cancellationToken);
        if (entry is null) return null;
        Entry? stored;
        try
        {
            stored = JsonSerializer.Deserialize(entry.Value, MtaStsJsonContext.Default.Entry);
        }
        catch (JsonException)
        {
            return null;
        }
        if (stored is null || stored.FormatVersion != CurrentFormatVersion) return null;
        var cached = new CachedMtaStsPolicy(stored.Id, new MtaStsPolicy(stored.Mode, stored.Mx, TimeSpan.FromSeconds(stored.MaxAgeSeconds)), stored.FetchedAt);
        return cached.ExpiresAt > time.GetUtcNow() ? cached : null;
    }

    public Task PutAsync(string domain, CachedMtaStsPolicy policy, CancellationToken cancellationToken)
    {
        var entry = new Entry(CurrentFormatVersion, policy.Id, policy.FetchedAt, policy.Policy.Mode, [.. policy.Policy.Mx], (long)policy.Policy.MaxAge.TotalSeconds);
        return state.PutAsync(Partition, Key(domain), JsonSerializer.Serialize(entry, MtaStsJsonContext.Default.Entry), policy.ExpiresAt, cancellationToken);
    }

    private static string Key(string domain) => domain.TrimEnd('.').ToLowerInvariant();

    internal sealed record Entry(
        int FormatVersion,
        string Id,
        DateTimeOffset FetchedAt,
        [property: JsonConverter(typeof(JsonStringEnumConverter<MtaStsMode>))] MtaStsMode Mode,
        List<string> Mx,
        long MaxAgeSeconds);
}

[JsonSerializable(typeof(MtaStsPolicyCache.Entry))]
internal sealed partial class MtaStsJsonContext : JsonSerializerContext;
