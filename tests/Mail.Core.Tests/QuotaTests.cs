using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>Sizes as admins write them (Dovecot's quota_rule storage=), and limits with their default over the real
/// SQLite stores.</summary>
public sealed class QuotaTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Theory]
    [InlineData("500M", 500L * 1024 * 1024)]
    [InlineData("2G", 2L * 1024 * 1024 * 1024)]
    [InlineData("2g", 2L * 1024 * 1024 * 1024)]
    [InlineData(" 1536K ", 1536L * 1024)]
    [InlineData("10MB", 10L * 1024 * 1024)]
    [InlineData("1T", 1024L * 1024 * 1024 * 1024)]
    [InlineData("4096", 4096L)]
    [InlineData("4096B", 4096L)]
    [InlineData("0", null)]
    [InlineData("0M", null)]
    [InlineData("none", null)]
    [InlineData("Unlimited", null)]
    public void Sizes_parse_with_binary_units_and_zero_or_none_is_unlimited(string text, long? expected)
    {
        Assert.True(QuotaSize.TryParse(text, out var limit));
        Assert.Equal(expected, limit);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("M")]
    [InlineData("-1M")]
    [InlineData("1.5G")]
    [InlineData("12X")]
    [InlineData("1 G B")]
    [InlineData("99999999999T")]
    [InlineData("default")]
    public void Anything_else_is_not_a_size(string? text) => Assert.False(QuotaSize.TryParse(text, out _));

    [Theory]
    [InlineData(500L * 1024 * 1024, "500M")]
    [InlineData(2L * 1024 * 1024 * 1024, "2G")]
    [InlineData(1536L * 1024, "1536K")]
    [InlineData(1000L, "1000")]
    [InlineData(null, "none")]
    public void Limits_format_in_the_largest_exact_unit_and_parse_back(long? limit, string text)
    {
        Assert.Equal(text, QuotaSize.Format(limit));
        Assert.True(QuotaSize.TryParse(text, out var back));
        Assert.Equal(limit, back);
    }

    [Fact]
    public void Usage_fits_up_to_the_limit_exactly_and_is_full_at_it()
    {
        var q = new QuotaUsage(900, 1000);
        Assert.True(q.Fits(100));
        Assert.False(q.Fits(101));
        Assert.False(q.IsFull);
        Assert.True(new QuotaUsage(1000, 1000).IsFull);
        Assert.True(new QuotaUsage(5_000_000, null).Fits(long.MaxValue / 2));
        Assert.False(new QuotaUsage(5_000_000, null).IsFull);
        Assert.Equal(0, QuotaUsage.Kibibytes(0));
        Assert.Equal(1, QuotaUsage.Kibibytes(1));
        Assert.Equal(1, QuotaUsage.Kibibytes(1024));
        Assert.Equal(2, QuotaUsage.Kibibytes(1025));
    }

    [Fact]
    public async Task A_users_own_limit_overrides_the_default_none_included_and_clearing_it_restores_the_default()
    {
        var db = Path.Combine(_data.Path, "mail.db");
        var mailboxes = new SqliteMailboxStore(db);
        var quotas = new UserQuotas(new SqliteStateStore(db), mailboxes, defaultLimit: 1000);
        const string alice = "alice@example.org";
        Assert.Equal(1000, await quotas.GetLimitAsync(alice));
        await quotas.SetLimitAsync(alice, 5000);
        Assert.Equal(5000, await quotas.GetLimitAsync(alice));
        await quotas.SetLimitAsync(alice, null);
        Assert.Null(await quotas.GetLimitAsync(alice));
        Assert.Null(await quotas.GetLimitedAsync(alice));
        await quotas.ClearLimitAsync(alice);
        Assert.Equal(1000, await quotas.GetLimitAsync(alice));

        await mailboxes.EnsureUserMailboxesAsync(alice);
        await mailboxes.AppendAsync(alice, "INBOX", new NewMessage("m1", 700, DateTimeOffset.UtcNow, [], null));
        var q = await quotas.GetLimitedAsync(alice);
        Assert.Equal(new QuotaUsage(700, 1000), q);
        Assert.Equal(700, (await new UserQuotas(new SqliteStateStore(db), mailboxes).GetAsync(alice)).Used);
    }

    [Fact]
    public async Task Usage_of_an_old_database_is_counted_once_when_the_column_is_added()
    {
        var db = Path.Combine(_data.Path, "old.db");
        var store = new SqliteMailboxStore(db);
        await store.EnsureUserMailboxesAsync("bob@example.org");
        await store.AppendAsync("bob@example.org", "INBOX", new NewMessage("m1", 1234, DateTimeOffset.UtcNow, [], null));
        await store.AppendAsync("bob@example.org", "Sent", new NewMessage("m2", 66, DateTimeOffset.UtcNow, [], null));
        // A database from before the octets column: drop it and its triggers as the old schema had none.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db}"))
        {
            await c.OpenAsync();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                DROP TRIGGER message_octets_insert; DROP TRIGGER message_octets_delete; DROP TRIGGER message_octets_move;
                ALTER TABLE mailbox DROP COLUMN octets;
                """;
            await cmd.ExecuteNonQueryAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var reopened = new SqliteMailboxStore(db);
        Assert.Equal(1300, await reopened.GetUsageAsync("bob@example.org"));
        await reopened.AppendAsync("bob@example.org", "INBOX", new NewMessage("m3", 700, DateTimeOffset.UtcNow, [], null));
        Assert.Equal(2000, await reopened.GetUsageAsync("bob@example.org"));
    }
}

/// <summary>The inbound stage and a user already over quota (a raced delivery): stored all the same, and logged.</summary>
public sealed class InboundOverQuotaTests : IDisposable
{
    private readonly PipelineFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public async Task A_delivery_over_the_limit_is_stored_and_logged_never_refused()
    {
        var quotas = new UserQuotas(_f.State, _f.Mailboxes);
        await quotas.SetLimitAsync("alice@example.org", 100);
        var log = new ListLogger();
        var stage = new Mail.Pipeline.Inbound.InboundStage(_f.Messages, _f.Mailboxes, _f.Directory_, _f.Outbound, [], log, _f.State, quotas: quotas);
        var result = await stage.ProcessAsync(await _f.StoreAsync(recipients: ["alice@example.org", "bob@example.org"]));
        Assert.Equal(2, result.Delivered.Count);
        Assert.Single(await _f.ListAsync("alice@example.org"));
        var line = Assert.Single(log.Lines, l => l.Contains("over quota", StringComparison.Ordinal));
        Assert.Contains("alice@example.org", line, StringComparison.Ordinal);
        Assert.DoesNotContain(log.Lines, l => l.Contains("bob@example.org over quota", StringComparison.Ordinal));
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger<Mail.Pipeline.Inbound.InboundStage>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add(formatter(state, exception));
        }
    }
}
