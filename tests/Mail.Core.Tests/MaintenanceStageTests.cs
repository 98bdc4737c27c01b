using Mail.Pipeline.Maintenance;
using Mail.Storage.Embedded;

namespace Mail.Core.Tests;

public sealed class MaintenanceStageTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mail-maint-" + Guid.NewGuid().ToString("N"));

    public MaintenanceStageTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task Purges_what_expired_by_the_stage_clock_and_keeps_the_rest()
    {
        var state = new SqliteStateStore(Path.Combine(_dir, "mail.db"));
        // Far in the future, so only the stage's clock (not the wall clock) can make these expire.
        var clock = new ManualTime(new DateTimeOffset(2040, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await state.PutAsync("greylist", "old", "1", clock.Now.AddMinutes(-1));
        await state.PutAsync("greylist", "new", "1", clock.Now.AddHours(1));
        await state.PutAsync("domain", "example.org", "{}");
        var stage = new MaintenanceStage(state, clock);

        Assert.Equal(new MaintenanceReport(1), await stage.RunOnceAsync());
        Assert.Equal(["new"], await KeysAsync(state, "greylist"));

        Assert.Equal(new MaintenanceReport(0), await stage.RunOnceAsync());
        clock.Now = clock.Now.AddHours(2);
        Assert.Equal(new MaintenanceReport(1), await stage.RunOnceAsync());
        Assert.Empty(await KeysAsync(state, "greylist"));
        Assert.Equal(["example.org"], await KeysAsync(state, "domain"));
    }

    [Fact]
    public async Task Quarantined_messages_past_retention_are_deleted_with_their_raw_message()
    {
        using var f = new PipelineFixture();
        var clock = new ManualTime(DateTimeOffset.UtcNow);
        var old = await f.StoreAsync();
        var stage = new Mail.Pipeline.Inbound.InboundStage(f.Messages, f.Mailboxes, f.Directory_, f.Outbound,
            [new ScriptedCheck(c => c.Verdict.Require(Mail.Core.InboundChecks.Disposition.Quarantine, "held"))], state: f.State, time: clock);
        await stage.ProcessAsync(old);
        clock.Now = clock.Now.AddDays(20);
        var recent = await f.StoreAsync();
        await stage.ProcessAsync(recent);
        var maintenance = new MaintenanceStage(f.State, clock, messages: f.Messages, quarantineRetention: TimeSpan.FromDays(30));

        Assert.Equal(0, (await maintenance.RunOnceAsync()).QuarantineDeleted);
        clock.Now = clock.Now.AddDays(11); // old is now 31 days held, recent 11
        Assert.Equal(1, (await maintenance.RunOnceAsync()).QuarantineDeleted);
        var left = Assert.Single(await new Mail.Pipeline.Quarantine.QuarantineStore(f.State).ListAsync());
        Assert.Equal(recent.QueueId, left.QueueId);
        Assert.False(await f.Messages.ExistsAsync(old.MessageRef));
        Assert.True(await f.Messages.ExistsAsync(recent.MessageRef));
    }

    [Fact]
    public async Task Periodic_loop_runs_until_cancelled()
    {
        var state = new SqliteStateStore(Path.Combine(_dir, "mail.db"));
        await state.PutAsync("greylist", "old", "1", DateTimeOffset.UtcNow.AddSeconds(-1));
        var stage = new MaintenanceStage(state);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var loop = stage.RunPeriodicallyAsync(TimeSpan.FromMilliseconds(50), cts.Token);
        await state.PutAsync("greylist", "later", "1", DateTimeOffset.UtcNow.AddMilliseconds(100));
        // "later" expires after the first pass, so only a later tick can remove it.
        while (await RawCountAsync() > 0 && !cts.IsCancellationRequested)
            await Task.Delay(20);
        Assert.False(cts.IsCancellationRequested, "the loop did not purge in time");
        await cts.CancelAsync();
        await loop; // ends quietly on cancellation
        Assert.Equal(0, await RawCountAsync());
    }

    [Fact]
    public async Task Zero_interval_is_refused() =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            new MaintenanceStage(new SqliteStateStore(Path.Combine(_dir, "mail.db"))).RunPeriodicallyAsync(TimeSpan.Zero, default));

    private async Task<long> RawCountAsync()
    {
        await using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dir, "mail.db")}");
        await c.OpenAsync();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM state WHERE partition = 'greylist'";
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<List<string>> KeysAsync(SqliteStateStore state, string partition)
    {
        var keys = new List<string>();
        await foreach (var e in state.ListAsync(partition)) keys.Add(e.Key);
        return keys;
    }
}
