using Azure.Messaging.ServiceBus;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Storage.Azure;

namespace Mail.Azure.Tests;

public sealed class ServiceBusMessageQueueTests
{
    private const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    private readonly FakeSender _sender = new("inbound");
    private readonly FakeReceiver _receiver;
    private readonly FakeReceiver _deadLetters = new("inbound/$deadletterqueue");
    private readonly ServiceBusMessageQueue _queue;

    public ServiceBusMessageQueueTests()
    {
        _receiver = new FakeReceiver("inbound", _sender.Calls);
        _queue = new ServiceBusMessageQueue(_sender, _receiver, _deadLetters);
    }

    [Fact]
    public async Task Send_uses_the_queue_id_as_message_id_and_carries_the_trace_context()
    {
        var env = TestData.Envelope(traceParent: TraceParent);
        await _queue.SendAsync(env);
        var m = Assert.Single(_sender.Sent);
        Assert.Equal(env.QueueId, m.MessageId);
        Assert.Equal(TraceParent, m.ApplicationProperties["traceparent"]);
        Assert.Equal(TraceParent, m.ApplicationProperties["Diagnostic-Id"]);
        Assert.Equal("application/json", m.ContentType);
        Assert.Equal(EnvelopeJson.Serialize(env), m.Body.ToString());
        Assert.Equal("inbound", _queue.Name);
    }

    [Fact]
    public async Task Send_with_not_before_schedules()
    {
        var env = TestData.Envelope();
        var at = DateTimeOffset.UtcNow.AddMinutes(10);
        await _queue.SendAsync(env, at);
        Assert.Empty(_sender.Sent);
        var (m, when) = Assert.Single(_sender.Scheduled);
        Assert.Equal(at, when);
        Assert.Equal(env.QueueId, m.MessageId);
    }

    [Fact]
    public async Task Receive_returns_leases_and_complete_settles_the_same_message()
    {
        var env = TestData.Envelope();
        var received = Received.From(ServiceBusMessageQueue.ToMessage(env), deliveryCount: 3);
        _receiver.Incoming.Enqueue(received);
        var lease = Assert.Single(await _queue.ReceiveAsync(5, TimeSpan.FromMinutes(1)));
        Assert.Equal(env.QueueId, lease.Envelope.QueueId);
        Assert.Equal(3, lease.DeliveryCount);
        Assert.Equal(received.LockToken, lease.LockToken);
        await _queue.CompleteAsync(lease);
        Assert.Same(received, Assert.Single(_receiver.Completed));
        // Settling twice is a caller bug, reported clearly.
        await Assert.ThrowsAsync<InvalidOperationException>(() => _queue.CompleteAsync(lease));
    }

    [Fact]
    public async Task Trace_context_from_properties_fills_a_missing_traceparent()
    {
        var env = TestData.Envelope();
        var message = ServiceBusMessageQueue.ToMessage(env);
        message.ApplicationProperties["Diagnostic-Id"] = TraceParent;
        _receiver.Incoming.Enqueue(Received.From(message));
        var lease = Assert.Single(await _queue.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        Assert.Equal(TraceParent, lease.Envelope.TraceParent);
    }

    [Fact]
    public async Task Abandon_without_delay_abandons()
    {
        _receiver.Incoming.Enqueue(Received.From(ServiceBusMessageQueue.ToMessage(TestData.Envelope())));
        var lease = Assert.Single(await _queue.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        await _queue.AbandonAsync(lease, TimeSpan.Zero);
        Assert.Single(_receiver.Abandoned);
        Assert.Empty(_sender.Scheduled);
    }

    [Fact]
    public async Task Abandon_with_delay_schedules_a_copy_first_then_completes_the_original()
    {
        var env = TestData.Envelope(traceParent: TraceParent);
        _receiver.Incoming.Enqueue(Received.From(ServiceBusMessageQueue.ToMessage(env), deliveryCount: 2));
        var lease = Assert.Single(await _queue.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        var before = DateTimeOffset.UtcNow;
        await _queue.AbandonAsync(lease, TimeSpan.FromMinutes(5));
        Assert.Equal(["schedule", "complete"], _sender.Calls);
        var (copy, at) = Assert.Single(_sender.Scheduled);
        Assert.True(at >= before.AddMinutes(5));
        Assert.NotEqual(env.QueueId, copy.MessageId); // duplicate detection must not swallow the retry
        Assert.StartsWith(env.QueueId, copy.MessageId, StringComparison.Ordinal);
        Assert.Equal(2, copy.ApplicationProperties[ServiceBusMessageQueue.PreviousDeliveriesProperty]);
        Assert.Equal(TraceParent, copy.ApplicationProperties["traceparent"]);

        // The copy, when delivered, counts the earlier deliveries too.
        _receiver.Incoming.Enqueue(Received.From(copy, deliveryCount: 1));
        var again = Assert.Single(await _queue.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        Assert.Equal(3, again.DeliveryCount);
        Assert.Equal(env.QueueId, again.Envelope.QueueId);
    }

    [Fact]
    public async Task Dead_letter_passes_the_reason()
    {
        _receiver.Incoming.Enqueue(Received.From(ServiceBusMessageQueue.ToMessage(TestData.Envelope())));
        var lease = Assert.Single(await _queue.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        await _queue.DeadLetterAsync(lease, "permanent: message missing");
        var (_, reason, description) = Assert.Single(_receiver.DeadLettered);
        Assert.Equal("permanent: message missing", reason);
        Assert.Equal("permanent: message missing", description);
    }

    [Fact]
    public async Task A_body_that_is_not_an_envelope_is_dead_lettered_on_receive()
    {
        _receiver.Incoming.Enqueue(Received.From(new ServiceBusMessage("{garbage") { MessageId = "x" }));
        Assert.Empty(await _queue.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        Assert.Equal("MalformedEnvelope", Assert.Single(_receiver.DeadLettered).Reason);
    }

    [Fact]
    public async Task List_peeks_waiting_scheduled_and_dead_lettered_envelopes()
    {
        var ready = TestData.Envelope();
        var scheduled = TestData.Envelope();
        var dead = TestData.Envelope();
        var at = DateTimeOffset.UtcNow.AddHours(1);
        _receiver.Peekable.Add(Received.From(ServiceBusMessageQueue.ToMessage(ready)));
        _receiver.Peekable.Add(Received.From(ServiceBusMessageQueue.ToMessage(scheduled), state: ServiceBusMessageState.Scheduled, scheduledAt: at));
        _deadLetters.Peekable.Add(Received.From(ServiceBusMessageQueue.ToMessage(dead), deadLetterReason: "InboundFailed", deadLetterDescription: "failed 5 times"));
        var list = new List<QueueEntry>();
        await foreach (var e in _queue.ListAsync()) list.Add(e);
        Assert.Equal(3, list.Count);
        Assert.Equal(QueueEntryState.Ready, list.Single(e => e.Envelope.QueueId == ready.QueueId).State);
        var s = list.Single(e => e.Envelope.QueueId == scheduled.QueueId);
        Assert.Equal(QueueEntryState.Scheduled, s.State);
        Assert.Equal(at, s.VisibleAt);
        var d = list.Single(e => e.Envelope.QueueId == dead.QueueId);
        Assert.Equal(QueueEntryState.DeadLettered, d.State);
        Assert.Equal("failed 5 times", d.DeadLetterReason);
    }
}
