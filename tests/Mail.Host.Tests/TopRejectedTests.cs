using Mail.WebConsole;

namespace Mail.Host.Tests;

/// <summary>The console's top rejected clients and senders: bounded however many distinct keys come, the heavy hitter
/// always kept, and each window forgetting what is older than it.</summary>
public sealed class TopRejectedTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_flood_of_distinct_clients_stays_bounded_and_the_heavy_hitter_stays_on_top()
    {
        var summary = new SpaceSaving(TopRejected.SlotCapacity);
        var top = new TopRejected();
        for (var i = 0; i < 20_000; i++)
        {
            // One client in ten is the same one; the rest are all different (a botnet).
            var client = i % 10 == 0 ? "192.0.2.66" : $"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}";
            summary.Add(client);
            top.Add(T0.AddSeconds(i % 250), client, i % 10 == 0 ? "spam@example.net" : $"x{i}@example.net");
        }
        Assert.Equal(TopRejected.SlotCapacity, summary.Counts.Count);
        // Space-Saving never counts low: 2000 seen, at most 2000 + what the evicted keys had.
        Assert.InRange(summary.Counts["192.0.2.66"], 2000, 2000 + 20_000 / TopRejected.SlotCapacity);
        var lists = top.Top(T0.AddMinutes(5), 10);
        Assert.Equal("192.0.2.66", lists.Hour.Clients[0].Key);
        Assert.True(lists.Hour.Clients[0].Count >= 2000);
        Assert.Equal("spam@example.net", lists.Hour.Senders[0].Key);
        Assert.Equal(10, lists.Hour.Clients.Count);
    }

    [Fact]
    public void Counts_are_exact_below_capacity_and_each_window_forgets_what_is_older()
    {
        var top = new TopRejected();
        top.Add(T0, "192.0.2.1", "A@Example.net");
        top.Add(T0.AddMinutes(1), "192.0.2.1", "a@example.net");
        top.Add(T0.AddMinutes(2), "192.0.2.2", "");
        top.Add(T0.AddMinutes(3), "192.0.2.2", null); // refused before MAIL: a client, no sender
        top.Add(T0.AddMinutes(50), "192.0.2.2", null);

        var now = top.Top(T0.AddMinutes(50), 10);
        Assert.Equal([new("192.0.2.2", 3), new("192.0.2.1", 2)], now.Hour.Clients);
        Assert.Equal([new("a@example.net", 2), new("<>", 1)], now.Hour.Senders);

        // An hour and more later: gone from the hour, still in the day.
        var later = top.Top(T0.AddMinutes(61), 10);
        Assert.Equal([new("192.0.2.2", 1)], later.Hour.Clients);
        Assert.Equal([new("192.0.2.2", 3), new("192.0.2.1", 2)], later.Day.Clients);

        // A day and more later: gone from both.
        var tomorrow = top.Top(T0.AddHours(25), 10);
        Assert.Empty(tomorrow.Day.Clients);
        Assert.Empty(tomorrow.Hour.Senders);
    }
}
