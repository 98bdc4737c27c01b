using Mail.Storage.Embedded;
using Mail.Testing;
using Microsoft.Data.Sqlite;

namespace Mail.Host.Tests;

/// <summary>`mail serve` runs the maintenance stage periodically: expired state written before start disappears.</summary>
[Collection("host")]
public sealed class MaintenanceHostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _data.Dispose();
    }

    [Fact]
    public async Task Serve_purges_expired_state_entries()
    {
        var db = Path.Combine(_data.Path, "mail.db");
        var state = new SqliteStateStore(db);
        await state.PutAsync("greylist", "expired-triplet", "{}", DateTimeOffset.UtcNow.AddMinutes(-10));
        await state.PutAsync("greylist", "live-triplet", "{}", DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal(2, await RowCountAsync(db));

        await using var host = await HostProcess.StartAsync(_data.Path, "--Maintenance:Interval=00:00:01");
        var until = DateTime.UtcNow.AddSeconds(30);
        while (await RowCountAsync(db) == 2 && DateTime.UtcNow < until) await Task.Delay(100);

        Assert.Equal(1, await RowCountAsync(db));
        Assert.NotNull(await state.GetAsync("greylist", "live-triplet"));
    }

    [Fact]
    public async Task Disabled_maintenance_leaves_expired_rows()
    {
        var db = Path.Combine(_data.Path, "mail.db");
        var state = new SqliteStateStore(db);
        await state.PutAsync("greylist", "expired-triplet", "{}", DateTimeOffset.UtcNow.AddMinutes(-10));
        await using (var host = await HostProcess.StartAsync(_data.Path, "--Maintenance:Interval=00:00:01", "--Maintenance:Enabled=false"))
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.False(host.HasExited);
        }
        Assert.Equal(1, await RowCountAsync(db));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("soon")]
    public async Task Bad_interval_is_a_startup_error_naming_the_setting(string value)
    {
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, $"--Maintenance:Interval={value}"],
            timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(78, r.ExitCode);
        Assert.Contains("Maintenance:Interval", r.StdErr, StringComparison.Ordinal);
    }

    /// <summary>Rows in the table, expired or not (the store's reads hide expired rows, so count them directly).</summary>
    private static async Task<long> RowCountAsync(string db)
    {
        await using var c = new SqliteConnection($"Data Source={db};Pooling=False");
        await c.OpenAsync();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM state WHERE partition = 'greylist'";
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
