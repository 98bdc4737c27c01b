using System.Text;
using Mail.Storage.Contracts;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>
/// The edge commits message and envelope with one group commit. A machine crash during it can keep the envelope and
/// lose the message; that envelope was never acknowledged, and the embedded data directory drops it when it loads.
/// </summary>
public sealed class SpoolRecoveryTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task An_envelope_whose_message_never_reached_the_disk_is_dropped_and_the_others_stay_queued()
    {
        var intact = MessageQueueContract.SampleEnvelope("INTACT") with { MessageRef = "INTACT" };
        var torn = MessageQueueContract.SampleEnvelope("TORN") with { MessageRef = "TORN" };
        using (var originals = new SegmentMessageStore(Path.Combine(_data.Path, "queue", "messages")))
        {
            await using var w = await originals.CreateAsync("INTACT");
            await w.WriteAsync(Encoding.ASCII.GetBytes("Subject: intact\r\n\r\nbody\r\n"));
            await w.CommitAsync();
        }
        var spool = new SpoolQueue(Path.Combine(_data.Path, "queue"), "inbound");
        await spool.SendAsync(intact);
        await spool.SendAsync(torn);

        var queue = await HostProcess.AdminOkAsync(_data.Path, "queue");
        Assert.Contains("INTACT", queue.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("TORN", queue.StdOut, StringComparison.Ordinal);
        Assert.Contains("-- 1 envelope(s)", queue.StdOut, StringComparison.Ordinal);
    }
}
