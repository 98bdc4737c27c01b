using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Mail.Imap.Messages;

/// <summary>
/// Formatted ENVELOPEs, BODYSTRUCTUREs and BODYs kept on the gateway's local disk across restarts, like Dovecot's
/// dovecot.index.cache: a cold "sync" FETCH after a restart reads them instead of opening and parsing every message.
/// One SQLite file, <c>fetch-cache.db</c> in <see cref="ImapServerOptions.CacheDirectory"/>, keyed by the stored
/// message reference with a short prefix for the item and the client's UTF-8 mode (<see cref="EnvelopeCache.Key"/>;
/// messages are immutable, so an entry never goes stale).
/// It is only a cache: writes happen behind the reply (queued, then inserted in batches by one background writer,
/// never awaited by a session); a missing, corrupt or foreign file is deleted and built again, never an error for
/// a client; at most <c>maxEntries</c> rows are kept (the oldest go first).
/// </summary>
internal sealed class PersistentFetchCache : IAsyncDisposable
{
    public const string FileName = "fetch-cache.db";

    // Bumped whenever the formatted ENVELOPE or BODYSTRUCTURE text changes, so an old file is rebuilt, not served.
    private const int FormatVersion = 1;
    private const int MaxPending = 100_000;
    private const int WriteBatch = 512;

    private readonly string _path;
    private readonly string _connectionString;
    private readonly int _maxEntries;
    private readonly ILogger _logger;
    private readonly Channel<KeyValuePair<string, string>> _pending =
        Channel.CreateBounded<KeyValuePair<string, string>>(new BoundedChannelOptions(MaxPending) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly Task _writer;
    private volatile bool _broken;
    private long _hits;
    private long _written;
    private long _rebuilds;

    public PersistentFetchCache(string directory, int maxEntries, ILogger logger)
    {
        Directory.CreateDirectory(directory);
        _path = Path.Combine(directory, FileName);
        _maxEntries = maxEntries;
        _logger = logger;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _path, Pooling = true, Mode = SqliteOpenMode.ReadWriteCreate, DefaultTimeout = 5 }.ToString();
        Open();
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Entries served from the file since start (a diagnostic: tests and operators see the cache work).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Entries written to the file since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Times the file was found unusable and built again since start (including at open).</summary>
    public long Rebuilds => Interlocked.Read(ref _rebuilds);

    /// <summary>Looks up many keys in one query; returns those found. Any failure is a miss (and schedules a rebuild).</summary>
    public Dictionary<string, string> GetMany(IReadOnlyList<string> keys)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        if (_broken || keys.Count == 0) return found;
        try
        {
            using var c = new SqliteConnection(_connectionString);
            c.Open();
            using var cmd = c.CreateCommand();
            var names = new string[keys.Count];
            for (var i = 0; i < keys.Count; i++)
            {
                names[i] = "$k" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                cmd.Parameters.AddWithValue(names[i], keys[i]);
            }
            cmd.CommandText = $"SELECT key, value FROM item WHERE key IN ({string.Join(',', names)})";
            using var reader = cmd.ExecuteReader();
            while (reader.Read()) found[reader.GetString(0)] = reader.GetString(1);
            Interlocked.Add(ref _hits, found.Count);
        }
        catch (SqliteException e)
        {
            MarkBroken(e);
            found.Clear();
        }
        return found;
    }

    /// <summary>Queues an entry for the background writer; dropped when the queue is full (it is only a cache).</summary>
    public void Add(string key, string value)
    {
        if (!_broken) _pending.Writer.TryWrite(new(key, value));
    }

    /// <summary>Waits until everything queued so far is on disk (tests, shutdown).</summary>
    public async Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_flushWaiters) _flushWaiters.Add(done);
        // An empty marker entry wakes the writer, which completes the waiters after its next batch.
        if (!_pending.Writer.TryWrite(new("", ""))) done.TrySetResult();
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private readonly List<TaskCompletionSource> _flushWaiters = [];

    private void Open()
    {
        try
        {
            Initialize();
        }
        catch (SqliteException e)
        {
            _logger.LogWarning("IMAP fetch cache {Path} is unusable ({Error}); building it again", _path, e.Message);
            Reset();
        }
    }

    private void Initialize()
    {
        using var c = new SqliteConnection(_connectionString);
        c.Open();
        // A file that is not a database fails here (SQLITE_NOTADB) rather than on a client's FETCH; damage deeper
        // in the file fails a later read or write, which rebuilds it then.
        var version = Scalar(c, "PRAGMA user_version");
        var hasTable = Scalar(c, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'item'") > 0;
        if (hasTable && version != FormatVersion) throw new SqliteException($"format {version}, expected {FormatVersion}", 26);
        // WAL (kept in the file): readers never wait for the writer.
        Exec(c, "PRAGMA journal_mode=WAL;");
        Exec(c, "CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT NOT NULL)");
        Exec(c, $"PRAGMA user_version = {FormatVersion}");
    }

    private void Reset()
    {
        Interlocked.Increment(ref _rebuilds);
        using (var key = new SqliteConnection(_connectionString)) SqliteConnection.ClearPool(key); // a pool key only, never opened
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            try { File.Delete(_path + suffix); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        try
        {
            Initialize();
            _broken = false;
        }
        catch (SqliteException e)
        {
            _logger.LogWarning("IMAP fetch cache {Path} cannot be created ({Error}); running without it", _path, e.Message);
            _broken = true;
        }
    }

    // SQLITE_CORRUPT and SQLITE_NOTADB: the file is damaged or not ours, so it is built again. Anything else
    // (busy, disk full, I/O) costs only this lookup or batch: the entries are computed again when next needed.
    private static bool IsDamage(SqliteException e) => e.SqliteErrorCode is 11 or 26;

    private void MarkBroken(SqliteException e)
    {
        if (!IsDamage(e))
        {
            _logger.LogDebug("IMAP fetch cache {Path}: {Error}", _path, e.Message);
            return;
        }
        if (_broken) return;
        _logger.LogWarning("IMAP fetch cache {Path} failed ({Error}); it will be built again", _path, e.Message);
        _broken = true;
        _pending.Writer.TryWrite(new("", "")); // wakes the writer, which rebuilds
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<KeyValuePair<string, string>>(WriteBatch);
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < WriteBatch && reader.TryRead(out var item))
                if (item.Key.Length > 0) batch.Add(item);
            if (_broken) Reset();
            else if (batch.Count > 0) Write(batch);
            if (reader.Count == 0)
            {
                TaskCompletionSource[] waiters;
                lock (_flushWaiters)
                {
                    waiters = [.. _flushWaiters];
                    _flushWaiters.Clear();
                }
                foreach (var w in waiters) w.TrySetResult();
            }
        }
    }

    private void Write(List<KeyValuePair<string, string>> batch)
    {
        try
        {
            using var c = new SqliteConnection(_connectionString);
            c.Open();
            // synchronous=NORMAL (per connection): no fsync per batch; a power cut may lose the last entries, which
            // are simply computed again.
            Exec(c, "PRAGMA synchronous=NORMAL;");
            using var tx = c.BeginTransaction();
            using var insert = c.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT OR IGNORE INTO item (key, value) VALUES ($k, $v)";
            var k = insert.Parameters.Add("$k", SqliteType.Text);
            var v = insert.Parameters.Add("$v", SqliteType.Text);
            var added = 0;
            foreach (var (key, value) in batch)
            {
                k.Value = key;
                v.Value = value;
                added += insert.ExecuteNonQuery();
            }
            using (var trim = c.CreateCommand())
            {
                // Bounded: rows older than the newest maxEntries go (ids only grow, so this is insertion order).
                trim.Transaction = tx;
                trim.CommandText = "DELETE FROM item WHERE id <= (SELECT max(id) FROM item) - $max";
                trim.Parameters.AddWithValue("$max", _maxEntries);
                trim.ExecuteNonQuery();
            }
            tx.Commit();
            Interlocked.Add(ref _written, added);
        }
        catch (SqliteException e)
        {
            MarkBroken(e);
        }
    }

    private static long Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Writes what is queued, then stops the writer.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("IMAP fetch cache writer did not finish within 30 s");
        }
        using (var key = new SqliteConnection(_connectionString)) SqliteConnection.ClearPool(key); // a pool key only, never opened
    }
}
