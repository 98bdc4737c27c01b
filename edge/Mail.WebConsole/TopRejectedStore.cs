using System.Text.Json;
using Mail.Core.Ports;

namespace Mail.WebConsole;

/// <summary>
/// Keeps the dashboard's top rejected lists across restarts: each changed slot of <see cref="TopRejected"/> is one
/// state-store entry (partition <see cref="Partition"/>, key "top-rejected-hour-N" / "-day-N", JSON format 1, expiring
/// when its window has passed it), written every <see cref="Interval"/> and at stop, and read back at start. The
/// memory bound is the store's bound too: 36 entries at most, each of at most 2 x <see cref="TopRejected.SlotCapacity"/> keys.
/// </summary>
public sealed class TopRejectedStore(IStateStore state)
{
    public const string Partition = "console";
    private const string Prefix = "top-rejected-";
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    public async Task LoadAsync(TrafficRecorder traffic, CancellationToken cancellationToken)
    {
        foreach (var name in TopRejected.SlotNames)
        {
            if (await state.GetAsync(Partition, Prefix + name, cancellationToken) is not { } entry) continue;
            TopRejectedSlot? slot;
            try
            {
                slot = JsonSerializer.Deserialize(entry.Value, ConsoleJson.Default.TopRejectedSlot);
            }
            catch (JsonException)
            {
                continue; // a damaged entry costs its slot's counts, nothing more
            }
            if (slot is { V: 1 }) traffic.RestoreTopRejected(name, slot);
        }
    }

    public async Task SaveAsync(TrafficRecorder traffic, CancellationToken cancellationToken)
    {
        var changed = traffic.TakeChangedTopRejected();
        foreach (var (name, slot, expires) in changed)
            await state.PutAsync(Partition, Prefix + name, JsonSerializer.Serialize(slot, ConsoleJson.Default.TopRejectedSlot), expires, cancellationToken);
    }

    /// <summary>Saves every <see cref="Interval"/> until <paramref name="stop"/>; a slot whose write failed is written
    /// again at its next change (the lists are a diagnostic, not mail).</summary>
    public async Task RunAsync(TrafficRecorder traffic, Action<Exception> failed, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    await SaveAsync(traffic, stop);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failed(e);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
