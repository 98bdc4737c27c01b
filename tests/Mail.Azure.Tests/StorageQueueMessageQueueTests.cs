using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Storage.Azure;

namespace Mail.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class StorageQueueMessageQueueTests(AzuriteFixture azurite)
{
    private StorageQueueMessageQueue NewQueue(TimeProvider? time = null) =>
        new(azurite.Queues.GetQueueClient(AzuriteFixture.UniqueName("q")), time: time);

    [Fact]
    public async Task Send_receive_complete_round_trips_the_whole_envelope()
    {
        var q = NewQueue();
        var env = TestData.Envelope(traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        await q.SendAsync(env);
        var leases = await q.ReceiveAsync(10, TimeSpan.FromMinutes(1));
        var lease = Assert.Single(leases);
        Assert.Equal(1, lease.DeliveryCount);
        Assert.Equal(EnvelopeJson.Serialize(env), EnvelopeJson.Serialize(lease.Envelope));
        Assert.Empty(await q.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
        await q.CompleteAsync(lease);
        Assert.Empty(await q.ListAsync().ToListAsync());
    }

    [Fact]
    public async Task Abandon_gives_it_back_with_a_higher_delivery_count()
    {
        var q = NewQueue();
        await q.SendAsync(TestData.Envelope());
        var first = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        await q.AbandonAsync(first, TimeSpan.Zero);
        var second = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        Assert.Equal(first.Envelope.QueueId, second.Envelope.QueueId);
        Assert.Equal(2, second.DeliveryCount);
        // The first pop receipt is stale now: settling with it must not remove the message.
        await Assert.ThrowsAnyAsync<global::Azure.RequestFailedException>(() => q.CompleteAsync(first));
        await q.CompleteAsync(second);
    }

    [Fact]
    public async Task Abandon_with_delay_and_scheduled_send_hide_the_envelope_until_due()
    {
        var q = NewQueue();
        var env = TestData.Envelope();
        await q.SendAsync(env, DateTimeOffset.UtcNow.AddHours(1));
        Assert.Empty(await q.ReceiveAsync(10, TimeSpan.FromMinutes(1)));

        var other = TestData.Envelope();
        await q.SendAsync(other);
        var lease = Assert.Single(await q.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
        await q.AbandonAsync(lease, TimeSpan.FromHours(1));
        Assert.Empty(await q.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task A_not_before_in_the_body_is_honoured_by_receivers()
    {
        // Schedules beyond the 7-day visibility cap carry "notBefore" in the body; a receiver that gets the message
        // early hides it again until then. Same path, with a due time a few seconds away.
        var q = NewQueue();
        await q.SendAsync(TestData.Envelope()); // creates the queues
        await q.CompleteAsync(Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(1))));
        var env = TestData.Envelope();
        var due = DateTimeOffset.UtcNow.AddSeconds(3);
        await q.Queue.SendMessageAsync(EnvelopeJson.Serialize(env, [new(EnvelopeJson.NotBeforeProperty, due.ToString("O"))]));
        Assert.Empty(await q.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
        QueueLease? lease = null;
        for (var i = 0; i < 150 && lease is null; i++)
        {
            await Task.Delay(100);
            lease = (await q.ReceiveAsync(1, TimeSpan.FromMinutes(1))).SingleOrDefault();
        }
        Assert.NotNull(lease);
        Assert.Equal(env.QueueId, lease.Envelope.QueueId);
        Assert.True(DateTimeOffset.UtcNow >= due.AddMilliseconds(-5), "delivered before its notBefore");
    }

    [Fact]
    public async Task Dead_letter_moves_it_to_the_poison_queue_with_the_reason()
    {
        var q = NewQueue();
        var env = TestData.Envelope();
        await q.SendAsync(env);
        var lease = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        await q.DeadLetterAsync(lease, "550 no such user here");
        Assert.Empty(await q.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
        var entry = Assert.Single(await q.ListAsync().ToListAsync());
        Assert.Equal(QueueEntryState.DeadLettered, entry.State);
        Assert.Equal("550 no such user here", entry.DeadLetterReason);
        Assert.Equal(env.QueueId, entry.Envelope.QueueId);
        Assert.Equal(q.Name + "-poison", q.DeadLetterQueue.Name);
    }

    [Fact]
    public async Task A_body_that_is_not_an_envelope_is_set_aside_not_dropped()
    {
        var q = NewQueue();
        await q.SendAsync(TestData.Envelope()); // creates the queues
        await q.CompleteAsync(Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(1))));
        await q.Queue.SendMessageAsync("{not json");
        Assert.Empty(await q.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
        var poison = (await q.DeadLetterQueue.PeekMessagesAsync(10)).Value;
        Assert.Contains(poison, m => m.MessageText.Contains("{not json", StringComparison.Ordinal) && m.MessageText.Contains("Malformed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task List_shows_waiting_envelopes()
    {
        var q = NewQueue();
        var a = TestData.Envelope();
        var b = TestData.Envelope();
        await q.SendAsync(a);
        await q.SendAsync(b);
        var list = await q.ListAsync().ToListAsync();
        Assert.Equal(new[] { a.QueueId, b.QueueId }.Order(), list.Select(e => e.Envelope.QueueId).Order());
        Assert.All(list, e => Assert.Equal(QueueEntryState.Ready, e.State));
    }
}
