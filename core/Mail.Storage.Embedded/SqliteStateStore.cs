using System.Globalization;
using System.Runtime.CompilerServices;
using Mail.Core.Caching;
using Mail.Core.Ports;
using Microsoft.Data.Sqlite;

namespace Mail.Storage.Embedded;

/// <summary>
/// Keyed state in SQLite (table <c>state</c>). Versions are integers starting at 1, incremented on each write;
/// expiry is unix milliseconds, checked against the <see cref="TimeProvider"/> on every read, so an expired
/// row behaves as missing even before <see cref="PurgeExpiredAsync"/> removes it.
/// May share its database file with <see cref="SqliteMailboxStore"/>.
/// </summary>
public sealed class SqliteStateStore : IGroupCommittedStateStore
{
    private readonly SqliteDatabase _db;
    private readonly TimeProvider _time;
    private readonly Func<string, bool>? _watched;
    /// <summary>Reads of the watched partitions kept in memory (<see cref="CacheReads"/>); null: every read asks SQLite.</summary>
    private RememberedAnswers<(string Partition, string Key), StateEntry?>? _cache;
    private long _watchedWrites;
    private Action _forgetting = static () => { };

    /// <param name="watched">Partitions whose writes are counted (<see cref="WatchedWrites"/>) and which
    /// <see cref="CacheReads"/> may keep in memory.</param>
    public SqliteStateStore(string databasePath, TimeProvider? time = null, Func<string, bool>? watched = null)
    {
        _db = new SqliteDatabase(databasePath, Schema);
        _time = time ?? TimeProvider.System;
        _watched = watched;
    }

    /// <summary>Writes to the watched partitions through this store so far: a `mail` command that made any tells the
    /// running server to read them again.</summary>
    public long WatchedWrites => Interlocked.Read(ref _watchedWrites);

    /// <summary>Answers reads of the watched partitions from memory for <paramref name="ttl"/> (<see cref="RememberedAnswers{TKey, T}"/>);
    /// for the server, whose every message asks "our domain? our user? an alias? a limit? a Sieve script?" several times
    /// over. Another process's write is seen once the TTL has passed, or at once after <see cref="ForgetCachedReads"/>. Zero leaves every read to the database. Call before the first read.</summary>
    public void CacheReads(TimeSpan ttl)
    {
        if (_watched is not null && ttl > TimeSpan.Zero) _cache = new(ttl, _time, stillTrue: static (entry, now) => entry?.ExpiresAt is not { } expires || expires > now);
    }

    /// <summary>Forgets the answers kept in memory: another process changed a watched partition.</summary>
    public void ForgetCachedReads() => Forget();

    /// <summary>Also calls <paramref name="forget"/> whenever this store forgets its answers (before and after each of
    /// its writes to a watched partition, and at <see cref="ForgetCachedReads"/>), whether or not it caches reads
    /// itself: for the caches above it (the SMTP edge's RCPT answers), which must see the same changes.</summary>
    public void AlsoForget(Action forget)
    {
        ArgumentNullException.ThrowIfNull(forget);
        _forgetting += forget;
    }

    private void Forget()
    {
        _cache?.Forget();
        _forgetting();
    }

    /// <summary>A write, counted and bracketed by the caches' forgetting when it is to a watched partition.</summary>
    private Task<T> Write<T>(string partition, Func<SqliteConnection, SqliteTransaction, T> write, CancellationToken cancellationToken)
    {
        if (_watched is null || !_watched(partition)) return _db.Writes.Write(write, cancellationToken);
        Interlocked.Increment(ref _watchedWrites);
        return WriteForgettingAsync(write, cancellationToken);
    }

    private async Task<T> WriteForgettingAsync<T>(Func<SqliteConnection, SqliteTransaction, T> write, CancellationToken cancellationToken)
    {
        Forget();
        try
        {
            return await _db.Writes.Write(write, cancellationToken);
        }
        finally
        {
            Forget();
        }
    }

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS state (
          partition TEXT NOT NULL,
          key TEXT NOT NULL,
          value TEXT NOT NULL,
          version INTEGER NOT NULL,
          expires_at INTEGER NULL,
          PRIMARY KEY (partition, key)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS state_expiry ON state(expires_at) WHERE expires_at IS NOT NULL;
        """;

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    public Task<StateEntry?> GetAsync(string partition, string key, CancellationToken cancellationToken = default)
    {
        if (_cache is not { } cache || !_watched!(partition)) return ReadAsync(partition, key, cancellationToken);
        return cache.GetAsync((Store: this, Token: cancellationToken), (partition, key),
            static (s, k) => s.Store.ReadAsync(k.Partition, k.Key, s.Token)).AsTask();
    }

    private async Task<StateEntry?> ReadAsync(string partition, string key, CancellationToken cancellationToken)
    {
        await using var lease = await _db.OpenAsync(cancellationToken);
        var c = lease.Connection;
        using var cmd = SqliteDatabase.Command(c, null,
            "SELECT value, version, expires_at FROM state WHERE partition=$p AND key=$k AND (expires_at IS NULL OR expires_at > $now)",
            ("$p", partition), ("$k", key), ("$now", Now));
        using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken)) return null;
        return new StateEntry(partition, key, r.GetString(0), r.GetInt64(1).ToString(CultureInfo.InvariantCulture), ReadExpiry(r, 2));
    }

    public async Task<IReadOnlyList<StateEntry?>> GetManyAsync(IReadOnlyList<(string Partition, string Key)> keys, CancellationToken cancellationToken = default)
    {
        var entries = new StateEntry?[keys.Count];
        if (keys.Count == 0) return entries;
        await using var lease = await _db.OpenAsync(cancellationToken);
        var c = lease.Connection;
        // Batches within SQLite's host-parameter limit; a message's recipients fit in one. Each asked row carries its
        // index (a literal), so every answer goes back to its place.
        const int Batch = 300;
        for (var start = 0; start < keys.Count; start += Batch)
        {
            var end = Math.Min(start + Batch, keys.Count);
            var rows = new System.Text.StringBuilder();
            var parameters = new List<(string Name, object? Value)> { ("$now", Now) };
            for (var i = start; i < end; i++)
            {
                var n = i.ToString(CultureInfo.InvariantCulture);
                rows.Append(i == start ? "" : ",").Append($"({n},$p{n},$k{n})");
                parameters.Add(("$p" + n, keys[i].Partition));
                parameters.Add(("$k" + n, keys[i].Key));
            }
            using var cmd = SqliteDatabase.OneOff(c, null,
                $"WITH asked(i, p, k) AS (VALUES {rows}) SELECT asked.i, value, version, expires_at FROM asked " +
                "JOIN state ON state.partition=asked.p AND state.key=asked.k WHERE expires_at IS NULL OR expires_at > $now",
                [.. parameters]);
            using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                var i = (int)r.GetInt64(0);
                entries[i] = new StateEntry(keys[i].Partition, keys[i].Key, r.GetString(1), r.GetInt64(2).ToString(CultureInfo.InvariantCulture), ReadExpiry(r, 3));
            }
        }
        return entries;
    }

    public Task<bool> TryPutAsync(string partition, string key, string value, string? expectedVersion, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        long? version = null;
        if (expectedVersion is not null)
        {
            if (!long.TryParse(expectedVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var v)) return Task.FromResult(false);
            version = v;
        }
        var now = Now;
        return Write(partition, (c, tx) =>
        {
            // An expired row counts as missing: replace it, restarting its version sequence after the old one.
            using var cmd = version is null
                ? SqliteDatabase.Command(c, tx, """
                    INSERT INTO state(partition, key, value, version, expires_at) VALUES ($p, $k, $v, 1, $e)
                    ON CONFLICT(partition, key) DO UPDATE SET value=excluded.value, version=state.version+1, expires_at=excluded.expires_at
                    WHERE state.expires_at IS NOT NULL AND state.expires_at <= $now
                    """, ("$p", partition), ("$k", key), ("$v", value), ("$e", expiresAt?.ToUnixTimeMilliseconds()), ("$now", now))
                : SqliteDatabase.Command(c, tx, """
                    UPDATE state SET value=$v, version=version+1, expires_at=$e
                    WHERE partition=$p AND key=$k AND version=$ver AND (expires_at IS NULL OR expires_at > $now)
                    """, ("$p", partition), ("$k", key), ("$v", value), ("$e", expiresAt?.ToUnixTimeMilliseconds()), ("$ver", version), ("$now", now));
            return cmd.ExecuteNonQuery() > 0;
        }, cancellationToken);
    }

    /// <summary>An unconditional write: inserted at version 1, or replaced with the next version.</summary>
    private const string Upsert = """
        INSERT INTO state(partition, key, value, version, expires_at) VALUES ($p, $k, $v, 1, $e)
        ON CONFLICT(partition, key) DO UPDATE SET value=excluded.value, version=state.version+1, expires_at=excluded.expires_at
        """;

    public Task PutAsync(string partition, string key, string value, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default) =>
        Write(partition, (c, tx) =>
        {
            using var cmd = SqliteDatabase.Command(c, tx, Upsert, ("$p", partition), ("$k", key), ("$v", value), ("$e", expiresAt?.ToUnixTimeMilliseconds()));
            return cmd.ExecuteNonQuery();
        }, cancellationToken);

    /// <summary>Every entry in one transaction (of the group commit): one WAL sync instead of one per key.</summary>
    public Task PutManyAsync(string partition, IReadOnlyList<KeyValuePair<string, string>> entries, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        if (entries.Count == 0) return Task.CompletedTask;
        return Write(partition, (c, tx) =>
        {
            foreach (var (key, value) in entries)
            {
                using var cmd = SqliteDatabase.Command(c, tx, Upsert, ("$p", partition), ("$k", key), ("$v", value), ("$e", expiresAt?.ToUnixTimeMilliseconds()));
                cmd.ExecuteNonQuery();
            }
            return entries.Count;
        }, cancellationToken);
    }

    public Task UpdateAsync(string partition, string key, Func<string?, string> update, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        var now = Now;
        // Inside the group commit's write transaction (BEGIN IMMEDIATE): nothing writes the key between read and write.
        return Write(partition, (c, tx) =>
        {
            string? current;
            using (var read = SqliteDatabase.Command(c, tx, "SELECT value FROM state WHERE partition=$p AND key=$k AND (expires_at IS NULL OR expires_at > $now)",
                ("$p", partition), ("$k", key), ("$now", now)))
                current = read.ExecuteScalar() as string;
            using var write = SqliteDatabase.Command(c, tx, Upsert, ("$p", partition), ("$k", key), ("$v", update(current)), ("$e", expiresAt?.ToUnixTimeMilliseconds()));
            return write.ExecuteNonQuery();
        }, cancellationToken);
    }

    public Task DeleteAsync(string partition, string key, CancellationToken cancellationToken = default) =>
        Write(partition, (c, tx) =>
        {
            using var cmd = SqliteDatabase.Command(c, tx, "DELETE FROM state WHERE partition=$p AND key=$k", ("$p", partition), ("$k", key));
            return cmd.ExecuteNonQuery();
        }, cancellationToken);

    public Task<long> IncrementAsync(string partition, string key, long delta, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        var now = Now;
        // Inside the group commit's write transaction (BEGIN IMMEDIATE): read-modify-write without lost updates.
        return Write(partition, (c, tx) =>
        {
            long current = 0;
            var live = false;
            using (var read = SqliteDatabase.Command(c, tx, "SELECT value, expires_at FROM state WHERE partition=$p AND key=$k", ("$p", partition), ("$k", key)))
            using (var r = read.ExecuteReader())
            {
                if (r.Read() && (r.IsDBNull(1) || r.GetInt64(1) > now))
                {
                    live = true;
                    // A non-numeric value (someone Put text under a counter key) restarts the counter at 0.
                    _ = long.TryParse(r.GetString(0), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out current);
                }
            }
            var next = current + delta;
            // A live counter keeps its window (fixed-window rate counting); a new or expired one starts a new window.
            using var write = SqliteDatabase.Command(c, tx, live
                    ? "UPDATE state SET value=$v, version=version+1 WHERE partition=$p AND key=$k"
                    : """
                      INSERT INTO state(partition, key, value, version, expires_at) VALUES ($p, $k, $v, 1, $e)
                      ON CONFLICT(partition, key) DO UPDATE SET value=excluded.value, version=state.version+1, expires_at=excluded.expires_at
                      """,
                ("$p", partition), ("$k", key), ("$v", next.ToString(CultureInfo.InvariantCulture)), ("$e", expiresAt.ToUnixTimeMilliseconds()));
            write.ExecuteNonQuery();
            return next;
        }, cancellationToken);
    }

    public async IAsyncEnumerable<StateEntry> ListAsync(string partition, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var lease = await _db.OpenAsync(cancellationToken);
        var c = lease.Connection;
        using var cmd = SqliteDatabase.Command(c, null,
            "SELECT key, value, version, expires_at FROM state WHERE partition=$p AND (expires_at IS NULL OR expires_at > $now) ORDER BY key",
            ("$p", partition), ("$now", Now));
        using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            yield return new StateEntry(partition, r.GetString(0), r.GetString(1), r.GetInt64(2).ToString(CultureInfo.InvariantCulture), ReadExpiry(r, 3));
    }

    public async Task<int> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await using var lease = await _db.OpenAsync(cancellationToken);
        var c = lease.Connection;
        using var cmd = SqliteDatabase.Command(c, null, "DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= $now", ("$now", now.ToUnixTimeMilliseconds()));
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private static DateTimeOffset? ReadExpiry(SqliteDataReader r, int ordinal) =>
        r.IsDBNull(ordinal) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(ordinal));
}
