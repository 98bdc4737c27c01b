using System.Runtime.CompilerServices;
using Mail.Core.Threading;
using Microsoft.Data.Sqlite;

namespace Mail.Storage.Embedded;

/// <summary>
/// Opens connections to one SQLite file with the settings every store needs, and keeps them open between uses with
/// their prepared statements (<see cref="Command"/>): Microsoft.Data.Sqlite prepares a command's SQL again for every
/// new command, and its connection pool finalizes the statements of a connection at every close, so without this each
/// mailbox append or state read parsed its SQL anew. A connection is lent to one operation at a time
/// (<see cref="OpenAsync"/>), which keeps the stores thread-safe.
/// </summary>
internal sealed class SqliteDatabase
{
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> s_configured = new();

    /// <summary>The statements of each connection this class lent out (none for <see cref="Open"/>'s).</summary>
    private static readonly ConditionalWeakTable<SqliteConnection, StatementCache> s_statements = new();

    /// <summary>Idle connections kept open: enough for the worker's parallel deliveries and the edge's reads at once;
    /// more at a peak go back to Microsoft.Data.Sqlite's pool when returned.</summary>
    private const int MaxIdle = 16;

    private readonly string _connectionString;
    private readonly Lock _gate = new();
    private readonly Stack<SqliteConnection> _idle = new();

    /// <summary>
    /// The database of <paramref name="databasePath"/> with one store's tables: its <paramref name="schema"/> (CREATE ...
    /// IF NOT EXISTS, so it runs at every start) and then <paramref name="upgrade"/>, the store's changes to files made by
    /// older versions, on one connection. Two stores may share the file, each with its own tables.
    /// </summary>
    public SqliteDatabase(string databasePath, string schema, Action<SqliteConnection>? upgrade = null) : this(databasePath)
    {
        using var c = Open();
        Exec(c, schema);
        upgrade?.Invoke(c);
    }

    private SqliteDatabase(string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        var full = Path.GetFullPath(databasePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            // Microsoft.Data.Sqlite retries SQLITE_BUSY until this timeout: writers from other connections
            // (or the `mail` CLI in another process) wait instead of failing.
            DefaultTimeout = 30,
        }.ToString();
        using var c = new SqliteConnection(_connectionString);
        c.Open();
        // WAL lets readers (IMAP sessions, the CLI) run while the worker writes. It is persistent in the file.
        Exec(c, "PRAGMA journal_mode=WAL;");
        Writes = SqliteGroupCommit.For(full, this);
    }

    /// <summary>The group commit of this file's writes, shared by every store of the process on it.</summary>
    public SqliteGroupCommit Writes { get; }

    /// <summary>A connection for one operation, with the statements it prepared before; disposing the lease returns it.</summary>
    public async Task<Lease> OpenAsync(CancellationToken cancellationToken)
    {
        // Every query blocks (Microsoft.Data.Sqlite is synchronous underneath): never on a socket event thread,
        // where inline socket completions would otherwise run it (see ThreadPoolHop).
        await ThreadPoolHop.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        // The connection's owner is the pool: the lease gives it back, Return closes what the pool does not keep.
#pragma warning disable CA2000
        lock (_gate)
        {
            if (_idle.TryPop(out var idle)) return new Lease(this, idle);
        }
        var c = new SqliteConnection(_connectionString);
#pragma warning restore CA2000
        try
        {
            c.Open();
            Configure(c);
            s_statements.AddOrUpdate(c, new StatementCache());
            return new Lease(this, c);
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    private void Return(SqliteConnection c)
    {
        // The operations dispose their transactions and readers before giving the connection back.
        if (c.State == System.Data.ConnectionState.Open)
        {
            lock (_gate)
            {
                if (_idle.Count < MaxIdle)
                {
                    _idle.Push(c);
                    return;
                }
            }
        }
        s_statements.Remove(c);
        c.Dispose();
    }

    /// <summary>For the schema at construction: Microsoft.Data.Sqlite opens synchronously underneath anyway.
    /// Its commands are not cached: the schema statements run once.</summary>
    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        Configure(c);
        return c;
    }

    private static void Configure(SqliteConnection c)
    {
        // Once per physical connection, not per use: the pool hands the same sqlite3 handle out again and again,
        // and pragmas stay set on it (parsing them cost as much as the lookup an SMTP RCPT does).
        if (c.Handle is { } handle && !s_configured.TryGetValue(handle, out _))
        {
            // synchronous=FULL: in WAL mode NORMAL may lose the last commits on power loss. A mailbox append is
            // what lets the worker complete (delete) the queued envelope, so it must be on disk first.
            // The cost is one WAL fsync per write transaction, except for the group commit's batches, whose log the
            // process's durability barrier syncs with its other files (SqliteGroupCommit).
            Exec(c, "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;");
            s_configured.AddOrUpdate(handle, s_configured);
        }
    }

    public static void Exec(SqliteConnection c, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = Command(c, tx, sql);
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// The command for <paramref name="sql"/> with these parameter values: on a lent connection the one prepared at its
    /// first use (only the values are bound again), elsewhere a new one. Dispose it after the last read of its results.
    /// </summary>
    public static Statement Command(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        // A cached command belongs to the connection's cache: the statement gives it back when disposed.
#pragma warning disable CA2000
        if (s_statements.TryGetValue(c, out var cache) && cache.TryTake(c, sql, out var cached))
#pragma warning restore CA2000
        {
            cached.Transaction = tx;
            var bound = cached.Parameters;
            if (!SameNames(bound, parameters))
            {
                bound.Clear();
                foreach (var (n, v) in parameters) bound.AddWithValue(n, v ?? DBNull.Value);
            }
            else
            {
                for (var i = 0; i < parameters.Length; i++) bound[i].Value = parameters[i].Value ?? DBNull.Value;
            }
            return new Statement(cached, cache);
        }
        return OneOff(c, tx, sql, parameters);
    }

    /// <summary>A new command that never takes a slot in the connection's cache: for SQL built per call (a list of
    /// values of varying length), whose texts would otherwise fill the cache and leave the fixed statements uncached.</summary>
    public static Statement OneOff(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (n, v) in parameters) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        return new Statement(cmd, null);
    }

    private static bool SameNames(SqliteParameterCollection bound, (string Name, object? Value)[] parameters)
    {
        if (bound.Count != parameters.Length) return false;
        for (var i = 0; i < parameters.Length; i++)
            if (!string.Equals(bound[i].ParameterName, parameters[i].Name, StringComparison.Ordinal)) return false;
        return true;
    }

    /// <summary>A lent connection: <see cref="Connection"/> for the operation, back to the idle ones when disposed.</summary>
    public sealed class Lease(SqliteDatabase owner, SqliteConnection connection) : IDisposable, IAsyncDisposable
    {
        public SqliteConnection Connection { get; } = connection;

        public void Dispose() => owner.Return(Connection);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>One connection's prepared commands by SQL text. Used by one operation at a time (the lease's holder);
    /// a command already in use (a reader still open on it) is not lent twice: the caller gets a new one.</summary>
    internal sealed class StatementCache
    {
        private const int MaxStatements = 128;
        private readonly Dictionary<string, SqliteCommand> _free = new(StringComparer.Ordinal);
        private int _count;

        public bool TryTake(SqliteConnection c, string sql, out SqliteCommand command)
        {
            if (_free.Remove(sql, out command!)) return true;
            if (_count >= MaxStatements) return false;
            _count++;
            command = c.CreateCommand();
            command.CommandText = sql;
            return true;
        }

        public void Give(SqliteCommand command)
        {
            // Two uses of one SQL at once made a second command: keep one.
            if (_free.TryAdd(command.CommandText, command)) return;
            _count--;
            command.Dispose();
        }
    }

    /// <summary>A command from <see cref="Command"/>: disposing it gives a cached one back (prepared for the next use).</summary>
    public readonly struct Statement : IDisposable
    {
        private readonly SqliteCommand _command;
        private readonly StatementCache? _cache;

        internal Statement(SqliteCommand command, StatementCache? cache) => (_command, _cache) = (command, cache);

        public int ExecuteNonQuery() => _command.ExecuteNonQuery();

        public Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken) => _command.ExecuteNonQueryAsync(cancellationToken);

        public object? ExecuteScalar() => _command.ExecuteScalar();

        public SqliteDataReader ExecuteReader() => _command.ExecuteReader();

        public Task<SqliteDataReader> ExecuteReaderAsync(CancellationToken cancellationToken) => _command.ExecuteReaderAsync(cancellationToken);

        public void Dispose()
        {
            if (_cache is null) _command.Dispose();
            else _cache.Give(_command);
        }
    }
}
