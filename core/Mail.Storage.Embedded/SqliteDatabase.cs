using Mail.Core.Threading;
using Microsoft.Data.Sqlite;

namespace Mail.Storage.Embedded;

/// <summary>
/// Opens connections to one SQLite file with the settings every store needs. Connections are pooled by
/// Microsoft.Data.Sqlite, so opening one per operation is cheap and keeps the stores thread-safe.
/// </summary>
internal sealed class SqliteDatabase
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> s_configured = new();

    private readonly string _connectionString;

    public SqliteDatabase(string databasePath)
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

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        // Every query blocks (Microsoft.Data.Sqlite is synchronous underneath): never on a socket event thread,
        // where inline socket completions would otherwise run it (see ThreadPoolHop).
        await ThreadPoolHop.Yield();
        var c = new SqliteConnection(_connectionString);
        await c.OpenAsync(cancellationToken);
        Configure(c);
        return c;
    }

    /// <summary>For the stores' constructors (schema creation): Microsoft.Data.Sqlite opens synchronously underneath anyway.</summary>
    public SqliteConnection Open()
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
            // The cost is one WAL fsync per write transaction.
            Exec(c, "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;");
            s_configured.AddOrUpdate(handle, s_configured);
        }
    }

    public static void Exec(SqliteConnection c, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        cmd.ExecuteNonQuery();
    }

    public static SqliteCommand Command(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (n, v) in parameters) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        return cmd;
    }
}
