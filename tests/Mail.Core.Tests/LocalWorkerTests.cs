using Mail.Core.Ports;
using Mail.Pipeline.Inbound;
using Mail.Pipeline.Local;

namespace Mail.Core.Tests;

public sealed class LocalWorkerTests : IDisposable
{
    private readonly PipelineFixture _f = new();

    public void Dispose() => _f.Dispose();

    private static LocalWorkerOptions Fast => new()
    {
        Concurrency = 2,
        MaxAttempts = 3,
        RetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        PollInterval = TimeSpan.FromMilliseconds(20),
    };

    private static async Task RunUntilAsync(LocalWorker worker, Func<Task<bool>> done)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = worker.RunAsync(cts.Token);
        while (!await done())
        {
            Assert.False(cts.IsCancellationRequested, "worker did not finish in time");
            await Task.Delay(20);
        }
        await cts.CancelAsync();
        await run;
    }

    private async Task<List<QueueEntry>> QueueAsync()
    {
        var list = new List<QueueEntry>();
        await foreach (var e in _f.Inbound.ListAsync()) list.Add(e);
        return list;
    }

    [Fact]
    public async Task Drains_the_inbound_queue_into_mailboxes()
    {
        for (var i = 0; i < 10; i++) await _f.Inbound.SendAsync(await _f.StoreAsync());
        var worker = new LocalWorker(_f.Inbound, _f.Stage(), Fast);
        await RunUntilAsync(worker, async () => (await QueueAsync()).Count == 0);
        var delivered = await _f.ListAsync("alice@example.org");
        Assert.Equal(10, delivered.Count);
        Assert.Equal(10, worker.Processed);
        // Every copy is readable; the originals the edge stored are gone (everything was delivered locally).
        foreach (var m in delivered) Assert.True(await _f.Messages.ExistsAsync(m.MessageRef));
        Assert.Empty(Directory.GetFiles(_f.Messages.Root, "in-*"));
    }

    [Fact]
    public async Task An_idle_worker_is_woken_by_the_next_envelope_not_by_its_poll()
    {
        // A poll interval no test would wait for: the second envelope arrives while both loops are idle.
        var options = Fast;
        options.PollInterval = TimeSpan.FromMinutes(10);
        await _f.Inbound.SendAsync(await _f.StoreAsync());
        var worker = new LocalWorker(_f.Inbound, _f.Stage(), options);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = worker.RunAsync(cts.Token);
        while (worker.Processed < 1) await Task.Delay(20, cts.Token);
        await _f.Inbound.SendAsync(await _f.StoreAsync());
        while (worker.Processed < 2 && !cts.IsCancellationRequested) await Task.Delay(20, CancellationToken.None);
        Assert.Equal(2, worker.Processed);
        Assert.Equal(2, (await _f.ListAsync("alice@example.org")).Count);
        await cts.CancelAsync();
        await run;
    }

    [Fact]
    public async Task Originals_are_kept_when_remote_recipients_still_need_them()
    {
        var env = await _f.StoreAsync(recipients: ["alice@example.org", "carol@remote.example"]);
        await _f.Inbound.SendAsync(env);
        var worker = new LocalWorker(_f.Inbound, _f.Stage(), Fast);
        await RunUntilAsync(worker, async () => (await QueueAsync()).Count == 0);
        Assert.True(await _f.Messages.ExistsAsync(env.MessageRef));
        Assert.Single(await _f.ListAsync("alice@example.org"));
    }

    [Fact]
    public async Task The_same_envelope_queued_twice_is_delivered_once()
    {
        var env = await _f.StoreAsync();
        await _f.Inbound.SendAsync(env);
        await _f.Inbound.SendAsync(env);
        var worker = new LocalWorker(_f.Inbound, _f.Stage(), Fast);
        await RunUntilAsync(worker, async () => (await QueueAsync()).Count == 0);
        Assert.Single(await _f.ListAsync("alice@example.org"));
    }

    [Fact]
    public async Task Failing_envelope_is_retried_then_dead_lettered_with_the_reason()
    {
        var check = new ScriptedCheck(_ => throw new InvalidOperationException("DNS is down"));
        await _f.Inbound.SendAsync(await _f.StoreAsync());
        var worker = new LocalWorker(_f.Inbound, _f.Stage(check), Fast);
        await RunUntilAsync(worker, async () => (await QueueAsync()).Any(e => e.State == QueueEntryState.DeadLettered));
        Assert.Equal(3, check.Runs);
        var dead = Assert.Single(await QueueAsync());
        Assert.Contains("DNS is down", dead.DeadLetterReason, StringComparison.Ordinal);
        Assert.Equal(3, dead.DeliveryCount);
        Assert.Empty(await _f.ListAsync("alice@example.org"));
    }

    [Fact]
    public async Task Transient_failure_is_retried_and_then_delivered()
    {
        var calls = 0;
        var check = new ScriptedCheck(_ =>
        {
            if (++calls == 1) throw new IOException("transient");
        });
        await _f.Inbound.SendAsync(await _f.StoreAsync());
        var worker = new LocalWorker(_f.Inbound, _f.Stage(check), Fast);
        await RunUntilAsync(worker, async () => (await QueueAsync()).Count == 0);
        Assert.Equal(2, calls);
        Assert.Single(await _f.ListAsync("alice@example.org"));
    }

    [Fact]
    public async Task Permanent_failure_is_dead_lettered_at_once()
    {
        var env = await _f.StoreAsync();
        await _f.Messages.DeleteAsync(env.MessageRef);
        await _f.Inbound.SendAsync(env);
        var worker = new LocalWorker(_f.Inbound, _f.Stage(), Fast);
        await RunUntilAsync(worker, async () => (await QueueAsync()).Any(e => e.State == QueueEntryState.DeadLettered));
        var dead = Assert.Single(await QueueAsync());
        Assert.Equal(1, dead.DeliveryCount);
        Assert.Contains("not in the message store", dead.DeadLetterReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Backoff_doubles_and_is_capped()
    {
        var worker = new LocalWorker(_f.Inbound, _f.Stage(), new LocalWorkerOptions { RetryDelay = TimeSpan.FromSeconds(10), MaxRetryDelay = TimeSpan.FromSeconds(60) });
        Assert.Equal([10, 20, 40, 60, 60], Enumerable.Range(1, 5).Select(a => worker.Backoff(a).TotalSeconds));
    }

    [Fact]
    public async Task Invalid_options_are_refused_naming_the_setting()
    {
        var worker = new LocalWorker(_f.Inbound, _f.Stage(), new LocalWorkerOptions { Concurrency = 0 });
        var e = await Assert.ThrowsAsync<ArgumentException>(() => worker.RunAsync(CancellationToken.None));
        Assert.Contains("Worker:Concurrency", e.Message, StringComparison.Ordinal);
    }
}
