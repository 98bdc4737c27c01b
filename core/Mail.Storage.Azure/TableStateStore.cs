using System.Globalization;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using Mail.Core.Ports;
using Mail.Core.Threading;

namespace Mail.Storage.Azure;

/// <summary>
/// <see cref="IStateStore"/> on one Azure table. Keys are escaped (<see cref="TableKey"/>) and the originals kept as
/// properties. The entity ETag is the version: inserts use Add (409 when present), updates use the expected ETag
/// (412 when someone else wrote first). An expired entity counts as missing; it is overwritten by ETag, not blindly.
/// Increments are an ETag retry loop. Values are strings, so at most 32 K characters (the Table string limit).
/// </summary>
public sealed class TableStateStore : IStateStore
{
    private const string ValueProperty = "Value";
    private const string ExpiresProperty = "ExpiresAt";
    private const string PartitionProperty = "P";
    private const string KeyProperty = "K";
    private const int MaxAttempts = 100;

    private readonly TableClient _table;
    private readonly TimeProvider _time;
    private readonly CreateOnce _created;

    public TableStateStore(TableClient table, TimeProvider? time = null)
    {
        _table = table;
        _time = time ?? TimeProvider.System;
        _created = new CreateOnce(ct => _table.CreateIfNotExistsAsync(ct));
    }

    public TableClient Table => _table;

    public async Task<StateEntry?> GetAsync(string partition, string key, CancellationToken cancellationToken = default)
    {
        var e = await GetEntityAsync(partition, key, cancellationToken);
        return e is null || IsExpired(e) ? null : ToEntry(e);
    }

    public async Task<bool> TryPutAsync(string partition, string key, string value, string? expectedVersion, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var entity = NewEntity(partition, key, value, expiresAt);
        try
        {
            if (expectedVersion is not null)
            {
                await _table.UpdateEntityAsync(entity, new ETag(expectedVersion), TableUpdateMode.Replace, cancellationToken);
                return true;
            }
            await _table.AddEntityAsync(entity, cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412 || (e.Status == 404 && expectedVersion is not null))
        {
            return false;
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            // Present: only an expired entry may be replaced by an insert, and only the very one we looked at.
            var existing = await GetEntityAsync(partition, key, cancellationToken);
            if (existing is null || !IsExpired(existing)) return false;
            try
            {
                await _table.UpdateEntityAsync(entity, existing.ETag, TableUpdateMode.Replace, cancellationToken);
                return true;
            }
            catch (RequestFailedException e2) when (e2.Status is 412 or 404)
            {
                return false;
            }
        }
    }

    public async Task PutAsync(string partition, string key, string value, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        await _table.UpsertEntityAsync(NewEntity(partition, key, value, expiresAt), TableUpdateMode.Replace, cancellationToken);
    }

    /// <summary>Entity-group transactions (one partition, at most 100 entities each) instead of one request per key.</summary>
    public async Task PutManyAsync(string partition, IReadOnlyList<KeyValuePair<string, string>> entries, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        if (entries.Count == 0) return;
        await _created.EnsureAsync(cancellationToken);
        foreach (var chunk in entries.Chunk(100))
            await _table.SubmitTransactionAsync(
                chunk.Select(e => new TableTransactionAction(TableTransactionActionType.UpsertReplace, NewEntity(partition, e.Key, e.Value, expiresAt))), cancellationToken);
    }

    public async Task DeleteAsync(string partition, string key, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        await _table.DeleteEntityAsync(TableKey.Escape(partition), TableKey.Escape(key), ETag.All, cancellationToken);
    }

    public async Task<long> IncrementAsync(string partition, string key, long delta, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var existing = await GetEntityAsync(partition, key, cancellationToken);
            try
            {
                if (existing is null)
                {
                    await _table.AddEntityAsync(NewEntity(partition, key, Format(delta), expiresAt), cancellationToken);
                    return delta;
                }
                // An expired counter starts again from zero with the new expiry.
                var expired = IsExpired(existing);
                var current = expired ? 0 : long.Parse(existing.GetString(ValueProperty) ?? "0", CultureInfo.InvariantCulture);
                var next = checked(current + delta);
                var keepExpiry = expired ? expiresAt : existing.GetDateTimeOffset(ExpiresProperty) ?? expiresAt;
                await _table.UpdateEntityAsync(NewEntity(partition, key, Format(next), keepExpiry), existing.ETag, TableUpdateMode.Replace, cancellationToken);
                return next;
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412 or 404)
            {
                // Another writer got there first: read again and retry.
                await Task.Delay(Random.Shared.Next(1, 5 + attempt * 2), cancellationToken);
            }
        }
        throw new InvalidOperationException($"Counter {partition}/{key} stayed contended after {MaxAttempts} attempts.");
    }

    public async IAsyncEnumerable<StateEntry> ListAsync(string partition, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var list = new List<StateEntry>();
        var filter = $"PartitionKey eq {TableKey.Quote(TableKey.Escape(partition))}";
        await foreach (var e in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
            if (!IsExpired(e)) list.Add(ToEntry(e));
        // Escaping can change the order of keys; the contract is the order of the original keys.
        list.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var entry in list) yield return entry;
    }

    public async Task<int> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var n = 0;
        var filter = TableClient.CreateQueryFilter($"ExpiresAt le {now}");
        await foreach (var e in _table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey", ExpiresProperty], cancellationToken: cancellationToken))
        {
            try
            {
                // By ETag: an entry renewed since the query is not ours to delete.
                await _table.DeleteEntityAsync(e.PartitionKey, e.RowKey, e.ETag, cancellationToken);
                n++;
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
            }
        }
        return n;
    }

    private async Task<TableEntity?> GetEntityAsync(string partition, string key, CancellationToken cancellationToken)
    {
        await _created.EnsureAsync(cancellationToken);
        var r = await _table.GetEntityIfExistsAsync<TableEntity>(TableKey.Escape(partition), TableKey.Escape(key), cancellationToken: cancellationToken);
        return r.HasValue ? r.Value : null;
    }

    private bool IsExpired(TableEntity e) => e.GetDateTimeOffset(ExpiresProperty) is { } x && x <= _time.GetUtcNow();

    private static TableEntity NewEntity(string partition, string key, string value, DateTimeOffset? expiresAt)
    {
        var e = new TableEntity(TableKey.Escape(partition), TableKey.Escape(key))
        {
            [PartitionProperty] = partition,
            [KeyProperty] = key,
            [ValueProperty] = value,
        };
        if (expiresAt is { } x) e[ExpiresProperty] = x.ToUniversalTime();
        return e;
    }

    private static StateEntry ToEntry(TableEntity e) => new(
        e.GetString(PartitionProperty) ?? e.PartitionKey,
        e.GetString(KeyProperty) ?? e.RowKey,
        e.GetString(ValueProperty) ?? "",
        e.ETag.ToString(),
        e.GetDateTimeOffset(ExpiresProperty));

    private static string Format(long n) => n.ToString(CultureInfo.InvariantCulture);
}
