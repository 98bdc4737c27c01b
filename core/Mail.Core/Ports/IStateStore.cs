namespace Mail.Core.Ports;

/// <summary>
/// Small keyed state with optimistic concurrency: users and domains, greylist triplets, rate counters, DKIM keys.
/// Values are opaque strings (usually JSON). Every write carries the version it expects, so two edge or
/// Function instances never overwrite each other blindly.
/// Embedded: SQLite. Cloud: Azure Table storage.
/// </summary>
public interface IStateStore
{
    /// <summary>Null when missing or expired.</summary>
    Task<StateEntry?> GetAsync(string partition, string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads several keys, of any partitions, as one read where the store can (SQLite: one query): the outbound stage
    /// asks for a run's recorded outcomes and the operator's marks together. The answers are in the order asked, null
    /// where missing or expired. The default reads them one by one.
    /// </summary>
    async Task<IReadOnlyList<StateEntry?>> GetManyAsync(IReadOnlyList<(string Partition, string Key)> keys, CancellationToken cancellationToken = default)
    {
        var entries = new StateEntry?[keys.Count];
        for (var i = 0; i < keys.Count; i++) entries[i] = await GetAsync(keys[i].Partition, keys[i].Key, cancellationToken);
        return entries;
    }

    /// <summary>
    /// Writes a value. With <paramref name="expectedVersion"/> null the key must not exist (insert);
    /// otherwise the stored version must match (update). Returns false on a conflict, never overwrites.
    /// </summary>
    Task<bool> TryPutAsync(string partition, string key, string value, string? expectedVersion, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default);

    /// <summary>Writes unconditionally.</summary>
    Task PutAsync(string partition, string key, string value, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes several keys of one partition unconditionally, as one write where the store can (SQLite: one transaction,
    /// one sync; Table storage: one entity-group transaction per 100): the outbound stage records every final
    /// recipient of an attempt at once. The default writes them one by one.
    /// </summary>
    async Task PutManyAsync(string partition, IReadOnlyList<KeyValuePair<string, string>> entries, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        foreach (var (key, value) in entries) await PutAsync(partition, key, value, expiresAt, cancellationToken);
    }

    /// <summary>Deletes; missing keys are not an error.</summary>
    Task DeleteAsync(string partition, string key, CancellationToken cancellationToken = default);

    /// <summary>Atomically adds <paramref name="delta"/> to a counter (created at 0, expiring at <paramref name="expiresAt"/>) and returns the new value.</summary>
    Task<long> IncrementAsync(string partition, string key, long delta, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);

    /// <summary>All live entries of a partition, ordered by key.</summary>
    IAsyncEnumerable<StateEntry> ListAsync(string partition, CancellationToken cancellationToken = default);

    /// <summary>Removes entries whose expiry is at or before <paramref name="now"/>; returns how many.</summary>
    Task<int> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default);
}

/// <param name="Version">Opaque concurrency token (row version, ETag).</param>
public sealed record StateEntry(string Partition, string Key, string Value, string Version, DateTimeOffset? ExpiresAt);
