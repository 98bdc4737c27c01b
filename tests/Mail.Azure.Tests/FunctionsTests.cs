using System.Diagnostics;
using System.Text;
using Azure.Messaging.ServiceBus;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Functions;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Testing;
using Mail.Storage.Azure;
using Mail.Storage.Contracts;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Azure.Tests;

/// <summary>
/// The Functions classes invoked as the host invokes them: the test plays the Functions host (receives the queue message
/// with a visibility timeout, calls Run, deletes the message when Run returns, leaves it to reappear when Run throws),
/// everything else is real: Blob, Queue and Table storage on Azurite and the real inbound stage.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class FunctionsTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string Bob = "bob@example.org";
    private const string Carol = "carol@example.org";
    private BlobMessageStore _messages = null!;
    private TableMailboxStore _mailboxes = null!;
    private TableStateStore _state = null!;
    private MailDirectory _directory = null!;
    private StorageQueueMessageQueue _inbound = null!;
    private StorageQueueMessageQueue _outbound = null!;
    private FaultyMailboxStore _faulty = null!;
    private readonly List<IInboundCheck> _checks = [];

    public async Task InitializeAsync()
    {
        _messages = new BlobMessageStore(azurite.Blobs.GetBlobContainerClient(AzuriteFixture.UniqueName("msgs")));
        _mailboxes = new TableMailboxStore(azurite.Tables, AzuriteFixture.UniqueName("mbx"));
        _faulty = new FaultyMailboxStore(_mailboxes);
        _state = new TableStateStore(azurite.Tables.GetTableClient(AzuriteFixture.UniqueName("state")));
        _directory = new MailDirectory(_state, passwordIterations: 1000);
        await _directory.AddDomainAsync("example.org");
        await _directory.SetUserAsync(Bob, "secret-1");
        await _directory.SetUserAsync(Carol, "secret-2");
        await _mailboxes.EnsureUserMailboxesAsync(Bob);
        await _mailboxes.EnsureUserMailboxesAsync(Carol);
        var name = AzuriteFixture.UniqueName("in");
        _inbound = new StorageQueueMessageQueue(azurite.Queues.GetQueueClient(name));
        _outbound = new StorageQueueMessageQueue(azurite.Queues.GetQueueClient(name + "out"));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private InboundFunction Inbound(int maxDeliveries = 5)
    {
        var stage = new InboundStage(_messages, _faulty, _directory, _outbound, _checks);
        var runner = new InboundRunner(stage, new FunctionsOptions { MaxDeliveries = maxDeliveries }, NullLogger<InboundRunner>.Instance);
        return new InboundFunction(runner, new FunctionQueues(_inbound, _outbound), NullLogger<InboundFunction>.Instance);
    }

    /// <summary>What the edge does: the raw message into Blob storage, then the envelope onto the inbound queue.</summary>
    private async Task<Envelope> AcceptAsync(string[] recipients, string? traceParent = null, bool storeMessage = true)
    {
        var queueId = "Q" + Guid.NewGuid().ToString("N")[..14].ToUpperInvariant();
        var raw = Encoding.ASCII.GetBytes(
            $"Received: from client.example.net\r\nFrom: alice@example.net\r\nTo: {string.Join(", ", recipients)}\r\nSubject: cloud {queueId}\r\nMessage-ID: <{queueId}@example.net>\r\n\r\nHello from the edge.\r\n");
        if (storeMessage)
        {
            await using var w = await _messages.CreateAsync("in-" + queueId);
            await w.WriteAsync(raw);
            await w.CommitAsync();
        }
        var envelope = TestData.Envelope(queueId) with
        {
            MessageRef = "in-" + queueId,
            Size = raw.Length,
            Recipients = recipients.Select(r => new Recipient { Address = r }).ToList(),
            TraceParent = traceParent,
        };
        await _inbound.SendAsync(envelope);
        return envelope;
    }

    /// <summary>The host's receive: one message, hidden for <paramref name="visibility"/> while the function runs.</summary>
    private static async Task<QueueMessage> HostReceiveAsync(QueueClient queue, TimeSpan visibility, TimeSpan? patience = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var got = (await queue.ReceiveMessagesAsync(1, visibility)).Value;
            if (got.Length > 0) return got[0];
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"No message on {queue.Name}");
            await Task.Delay(100);
        }
    }

    /// <summary>The host's contract: delete on success, leave it (to reappear) on an exception.</summary>
    private static async Task HostInvokeAsync(QueueClient queue, QueueMessage message, Func<QueueMessage, Task> run)
    {
        await run(message);
        await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
    }

    private async Task<string> ReadAsync(string id)
    {
        await using var s = await _messages.OpenReadAsync(id);
        Assert.NotNull(s);
        using var r = new StreamReader(s);
        return await r.ReadToEndAsync();
    }

    [Fact]
    public async Task Envelope_on_the_queue_is_delivered_to_the_mailbox_in_table_and_blob()
    {
        var env = await AcceptAsync([Bob]);
        var fn = Inbound();
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, m, x => fn.Run(x, default));

        var rec = Assert.Single(await _mailboxes.ListMessagesAsync(Bob, "INBOX"));
        var copy = await ReadAsync(rec.MessageRef);
        Assert.StartsWith("Return-Path: <alice@example.net>\r\nDelivered-To: bob@example.org\r\n", copy, StringComparison.Ordinal);
        Assert.Contains($"Subject: cloud {env.QueueId}", copy, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nHello from the edge.\r\n", copy, StringComparison.Ordinal);
        Assert.Equal(copy.Length, rec.Size);
        Assert.Empty((await _inbound.Queue.PeekMessagesAsync(32)).Value);
        Assert.Empty((await _inbound.DeadLetterQueue.PeekMessagesAsync(32)).Value);
        // Every recipient final: the original is gone from Blob storage, the delivered copy stays.
        Assert.False(await _messages.ExistsAsync(env.MessageRef));
        Assert.True(await _messages.ExistsAsync(rec.MessageRef));
    }

    [Fact]
    public async Task Original_is_kept_while_a_recipient_waits_for_the_outbound_queue_or_a_retry()
    {
        // A remote recipient: the outbound stage still needs the original (it deletes it when its recipients are final).
        var mixed = await AcceptAsync([Bob, "dave@example.net"]);
        var fn = Inbound();
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, m, x => fn.Run(x, default));
        Assert.True(await _messages.ExistsAsync(mixed.MessageRef));

        // A failed attempt keeps it for the retry; the retry delivers, deletes it, and a redelivery after that
        // (the host lost the delete) completes without it and delivers nothing twice.
        var retried = await AcceptAsync([Carol]);
        _faulty.FailNextAppendFor = Carol;
        var first = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<IOException>(() => fn.Run(first, default));
        Assert.True(await _messages.ExistsAsync(retried.MessageRef));
        var second = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await fn.Run(second, default);
        Assert.False(await _messages.ExistsAsync(retried.MessageRef));
        await fn.Run(second, default);
        Assert.Single(await _mailboxes.ListMessagesAsync(Carol, "INBOX"));
        Assert.Empty((await _inbound.DeadLetterQueue.PeekMessagesAsync(32)).Value);
    }

    [Fact]
    public async Task The_same_envelope_delivered_twice_lands_once()
    {
        var env = await AcceptAsync([Bob, Carol]);
        var fn = Inbound();
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await fn.Run(m, default);
        // At-least-once: the same queue message handed over again (e.g. the host lost its lease), and the edge
        // sending the same envelope a second time.
        await fn.Run(m, default);
        await _inbound.SendAsync(env);
        var again = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        Assert.NotEqual(m.MessageId, again.MessageId);
        await HostInvokeAsync(_inbound.Queue, again, x => fn.Run(x, default));

        Assert.Single(await _mailboxes.ListMessagesAsync(Bob, "INBOX"));
        Assert.Single(await _mailboxes.ListMessagesAsync(Carol, "INBOX"));
    }

    [Fact]
    public async Task A_function_that_throws_midway_is_retried_by_redelivery_and_delivers_exactly_once()
    {
        await AcceptAsync([Bob, Carol]);
        var fn = Inbound();
        // First run: Bob's copy is appended, then the store fails for Carol — the function throws midway.
        _faulty.FailNextAppendFor = Carol;
        var first = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<IOException>(() => HostInvokeAsync(_inbound.Queue, first, x => fn.Run(x, default)));
        Assert.Single(await _mailboxes.ListMessagesAsync(Bob, "INBOX"));
        Assert.Empty(await _mailboxes.ListMessagesAsync(Carol, "INBOX"));

        // The message was not deleted: it reappears after its visibility timeout, with a higher dequeue count.
        var second = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        Assert.Equal(first.MessageId, second.MessageId);
        Assert.Equal(2, second.DequeueCount);
        await HostInvokeAsync(_inbound.Queue, second, x => fn.Run(x, default));

        Assert.Single(await _mailboxes.ListMessagesAsync(Bob, "INBOX"));
        Assert.Single(await _mailboxes.ListMessagesAsync(Carol, "INBOX"));
        Assert.Empty((await _inbound.Queue.PeekMessagesAsync(32)).Value);
    }

    [Fact]
    public async Task The_last_allowed_delivery_dead_letters_with_the_reason_and_the_poison_function_records_it()
    {
        var env = await AcceptAsync([Bob]);
        _faulty.FailAlwaysFor = Bob;
        var fn = Inbound(maxDeliveries: 2);
        var first = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<IOException>(() => HostInvokeAsync(_inbound.Queue, first, x => fn.Run(x, default)));
        var second = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, second, x => fn.Run(x, default)); // returns: dead-lettered by us

        var poisonMessage = await HostReceiveAsync(_inbound.DeadLetterQueue, TimeSpan.FromSeconds(30));
        var poisonLog = new PoisonLog(azurite.Tables.GetTableClient(AzuriteFixture.UniqueName("poison")));
        var poisonFn = new PoisonFunction(poisonLog, _messages, NullLogger<PoisonFunction>.Instance);
        await HostInvokeAsync(_inbound.DeadLetterQueue, poisonMessage, x => poisonFn.RunInbound(x, default));

        var record = Assert.Single(await poisonLog.ListAsync(QueueNames.Inbound));
        Assert.Equal(env.QueueId, record.QueueId);
        Assert.Contains("failed 2 times", record.Reason, StringComparison.Ordinal);
        Assert.Contains("disk on fire", record.Reason, StringComparison.Ordinal);
        Assert.Equal(env.MessageRef, record.MessageRef);
        Assert.True(record.MessageExists);
        Assert.True(await _messages.ExistsAsync(env.MessageRef)); // the raw message is kept for the operator
        Assert.Equal(env.QueueId, StorageQueueMessageQueue.Parse(record.Body).Envelope.QueueId);
    }

    [Fact]
    public async Task A_missing_raw_message_is_a_permanent_failure_dead_lettered_at_once()
    {
        var env = await AcceptAsync([Bob], storeMessage: false);
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, m, x => Inbound().Run(x, default));
        var dead = Assert.Single(await _inbound.ListAsync().ToListAsync());
        Assert.Equal(QueueEntryState.DeadLettered, dead.State);
        Assert.Equal(env.QueueId, dead.Envelope.QueueId);
        Assert.StartsWith("permanent:", dead.DeadLetterReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_that_is_not_an_envelope_goes_to_the_poison_queue_and_is_recorded()
    {
        await _inbound.SendAsync(TestData.Envelope()); // creates the queues
        await _inbound.Queue.ClearMessagesAsync();
        await _inbound.Queue.SendMessageAsync("hello, not json");
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, m, x => Inbound().Run(x, default));
        var poisonMessage = await HostReceiveAsync(_inbound.DeadLetterQueue, TimeSpan.FromSeconds(30));
        var poisonLog = new PoisonLog(azurite.Tables.GetTableClient(AzuriteFixture.UniqueName("poison")));
        await new PoisonFunction(poisonLog, _messages, NullLogger<PoisonFunction>.Instance).RunInbound(poisonMessage, default);
        var record = Assert.Single(await poisonLog.ListAsync(QueueNames.Inbound));
        Assert.Contains("Malformed", record.Reason, StringComparison.Ordinal);
        Assert.Contains("hello, not json", record.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_trace_started_at_the_edge_continues_in_the_function()
    {
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        // What an OpenTelemetry tracer provider (or Application Insights) does: listen to the stage's source.
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s == Mail.Core.Telemetry.MailTelemetry.Inbound,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var recorder = new TraceRecorder();
        _checks.Add(recorder);
        await AcceptAsync([Bob], traceParent: $"00-{traceId}-00f067aa0ba902b7-01");
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, m, x => Inbound().Run(x, default));
        Assert.Equal(traceId, recorder.TraceId);
        // The check runs in its own span, a child of the stage's span, whose parent is the edge's span.
        Assert.Equal("inbound.check", recorder.OperationName);
        Assert.Equal(InboundRunner.ActivityName, recorder.ParentOperationName);
        Assert.Equal("00f067aa0ba902b7", recorder.GrandParentSpanId);
    }

    [Fact]
    public async Task Remote_recipients_are_delivered_by_the_outbound_trigger_with_retries_as_scheduled_messages_and_the_original_deleted()
    {
        await using var peer = new ScriptedSmtpPeer();
        peer.RcptReplies["dave@remote.example"] = "451 4.3.0 <dave@remote.example>: try again later";
        // The telemetry of the outbound runs: their spans in the edge's trace, the delivery results by status.
        const string traceId = "0af7651916cd43dd8448eb211c80319c";
        var outboundSpans = new List<Activity>();
        using var spans = new ActivityListener
        {
            ShouldListenTo = s => s == Mail.Core.Telemetry.MailTelemetry.Outbound,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (outboundSpans) outboundSpans.Add(a); },
        };
        ActivitySource.AddActivityListener(spans);
        var results = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var meter = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (i, l) => { if (i == Mail.Core.Telemetry.MailTelemetry.DeliveryResults) l.EnableMeasurementEvents(i); },
        };
        meter.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var t in tags) if (t.Key == "status") results.AddOrUpdate((string)t.Value!, value, (_, v) => v + value);
        });
        meter.Start();
        var env = await AcceptAsync([Bob, "dave@remote.example"], traceParent: $"00-{traceId}-b7ad6b7169203331-01");
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, m, x => Inbound().Run(x, default));
        Assert.Single(await _mailboxes.ListMessagesAsync(Bob, "INBOX"));

        var options = new Mail.Outbound.OutboundOptions { MinimalBackoff = TimeSpan.FromSeconds(1), MaximalBackoff = TimeSpan.FromSeconds(1), MaximalQueueLifetime = TimeSpan.FromDays(3650) };
        options.Transports["remote.example"] = $"[127.0.0.1]:{peer.Port}";
        var identity = new Mail.Outbound.OutboundIdentity("mx.example.org", _ => false, (d, ct) => _directory.IsLocalDomainAsync(d, ct));
        var stage = new Mail.Outbound.OutboundStage(_messages, new Mail.Dns.DnsResolver(new Mail.Dns.DnsResolverOptions()), options, identity, null, _state, (_, _) => Task.CompletedTask);
        var outbound = new OutboundFunction(new FunctionQueues(_inbound, _outbound), stage, TimeProvider.System, NullLogger<OutboundFunction>.Instance);

        // First run: a 4xx, so the envelope goes back on the queue hidden until its next attempt, with the reply.
        await HostInvokeAsync(_outbound.Queue, await HostReceiveAsync(_outbound.Queue, TimeSpan.FromSeconds(30)), x => outbound.Run(x, default));
        Assert.Empty(await _outbound.ListAsync().ToListAsync()); // hidden until due
        var retry = await HostReceiveAsync(_outbound.Queue, TimeSpan.FromSeconds(30));
        Assert.True(StorageQueueMessageQueue.TryParse(retry.MessageText, out var waiting, out _, out _));
        var dave = Assert.Single(waiting.Recipients);
        Assert.Equal(RecipientStatus.Deferred, dave.Status);
        Assert.Equal("4.3.0", dave.Delivery!.LastReply!.EnhancedCode);
        Assert.True(await _messages.ExistsAsync(env.MessageRef), "the original must stay while a recipient is not final");

        // The retry, once due: delivered, nothing left, the original gone.
        peer.RcptReplies.Clear();
        await HostInvokeAsync(_outbound.Queue, retry, x => outbound.Run(x, default));
        var got = Assert.Single(peer.Received);
        Assert.Equal(["dave@remote.example"], got.Recipients);
        Assert.Contains($"Subject: cloud {env.QueueId}", got.Data, StringComparison.Ordinal);
        Assert.Empty(await _outbound.ListAsync().ToListAsync());
        Assert.False(await _messages.ExistsAsync(env.MessageRef));

        lock (outboundSpans)
        {
            var runs = outboundSpans.Where(a => a.TraceId.ToHexString() == traceId).ToList();
            Assert.Equal(2, runs.Count);
            Assert.All(runs, r => Assert.Equal(Mail.Outbound.OutboundStage.SpanName, r.OperationName));
        }
        Assert.True(results.GetValueOrDefault("deferred") >= 1 && results.GetValueOrDefault("sent") >= 1, string.Join(", ", results));
    }

    [Fact]
    public async Task An_envelope_not_yet_due_is_put_back_hidden_instead_of_processed()
    {
        var env = TestData.Envelope() with { Recipients = [new Recipient { Address = Bob }] };
        await _inbound.SendAsync(TestData.Envelope()); // creates the queues
        await _inbound.Queue.ClearMessagesAsync();
        var due = DateTimeOffset.UtcNow.AddDays(10);
        await _inbound.Queue.SendMessageAsync(EnvelopeJson.Serialize(env, [new(EnvelopeJson.NotBeforeProperty, due.ToString("O"))]));
        var m = await HostReceiveAsync(_inbound.Queue, TimeSpan.FromSeconds(30));
        await HostInvokeAsync(_inbound.Queue, m, x => Inbound().Run(x, default));
        Assert.Empty(await _mailboxes.ListMessagesAsync(Bob, "INBOX"));
        Assert.Empty((await _inbound.Queue.PeekMessagesAsync(32)).Value); // hidden, not visible
        var props = (await _inbound.Queue.GetPropertiesAsync()).Value;
        Assert.Equal(1, props.ApproximateMessagesCount); // but still there
    }

    [Fact]
    public async Task Maintenance_purges_expired_state()
    {
        await _state.PutAsync("greylist", "old", "1", DateTimeOffset.UtcNow.AddMinutes(-1));
        await _state.PutAsync("greylist", "new", "1", DateTimeOffset.UtcNow.AddMinutes(10));
        var fn = new MaintenanceFunction(_state, TimeProvider.System, NullLogger<MaintenanceFunction>.Instance);
        Assert.Equal(1, await fn.RunOnceAsync(default));
        Assert.Equal(["new"], (await _state.ListAsync("greylist").ToListAsync()).Select(e => e.Key));
    }

    [Fact]
    public async Task Service_bus_processor_runs_the_same_stage_and_settles_each_message()
    {
        var stage = new InboundStage(_messages, _faulty, _directory, _outbound, _checks);
        var options = new FunctionsOptions { MaxDeliveries = 3 };
        var runner = new InboundRunner(stage, options, NullLogger<InboundRunner>.Instance);
        await using var adapters = AzureAdapters.Create(new AzureStorageOptions { ConnectionString = azurite.ConnectionString });
        var processor = new ServiceBusInboundProcessor(adapters, new AzureStorageOptions(), runner, options, NullLogger<ServiceBusInboundProcessor>.Instance);
        var receiver = new FakeReceiver("inbound");

        // Success: delivered and completed.
        var env = await AcceptAsync([Bob]);
        var ok = Received.From(ServiceBusMessageQueue.ToMessage(env));
        await processor.HandleAsync(new ProcessMessageEventArgs(ok, receiver, CancellationToken.None));
        Assert.Same(ok, Assert.Single(receiver.Completed));
        Assert.Single(await _mailboxes.ListMessagesAsync(Bob, "INBOX"));
        Assert.False(await _messages.ExistsAsync(env.MessageRef));

        // Transient failure before the last delivery: abandoned for redelivery; on the last one: dead-lettered with the reason.
        var failing = await AcceptAsync([Carol]);
        _faulty.FailAlwaysFor = Carol;
        var early = Received.From(ServiceBusMessageQueue.ToMessage(failing), deliveryCount: 1);
        await processor.HandleAsync(new ProcessMessageEventArgs(early, receiver, CancellationToken.None));
        Assert.Same(early, Assert.Single(receiver.Abandoned));
        var last = Received.From(ServiceBusMessageQueue.ToMessage(failing), deliveryCount: 3);
        await processor.HandleAsync(new ProcessMessageEventArgs(last, receiver, CancellationToken.None));
        var (dead, reason, description) = Assert.Single(receiver.DeadLettered);
        Assert.Same(last, dead);
        Assert.Equal("InboundFailed", reason);
        Assert.Contains("disk on fire", description, StringComparison.Ordinal);

        // Not an envelope: dead-lettered at once.
        var garbage = Received.From(new ServiceBusMessage("nope") { MessageId = "g" });
        await processor.HandleAsync(new ProcessMessageEventArgs(garbage, receiver, CancellationToken.None));
        Assert.Equal("MalformedEnvelope", receiver.DeadLettered[^1].Reason);
        Assert.Single(receiver.Completed);
    }

    /// <summary>Fault injection around the real Table adapter: fails appends for one user.</summary>
    private sealed class FaultyMailboxStore(IMailboxStore inner) : MailboxStoreDecorator(inner)
    {
        public string? FailNextAppendFor { get; set; }
        public string? FailAlwaysFor { get; set; }

        public override Task<AppendResult> AppendAsync(string user, string mailbox, NewMessage message, CancellationToken cancellationToken = default)
        {
            FailIfArmed(user);
            return Inner.AppendAsync(user, mailbox, message, cancellationToken);
        }

        public override Task<IReadOnlyList<AppendResult>> AppendAllAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends, CancellationToken cancellationToken = default)
        {
            FailIfArmed(user);
            return Inner.AppendAllAsync(user, appends, cancellationToken);
        }

        private void FailIfArmed(string user)
        {
            if (user == FailAlwaysFor) throw new IOException("disk on fire");
            if (user == FailNextAppendFor)
            {
                FailNextAppendFor = null;
                throw new IOException("transient table failure");
            }
        }
    }

    /// <summary>An inbound check that only records the ambient trace while the stage runs.</summary>
    private sealed class TraceRecorder : IInboundCheck
    {
        public string Name => "trace-recorder";
        public string? TraceId { get; private set; }
        public string? GrandParentSpanId { get; private set; }
        public string? OperationName { get; private set; }
        public string? ParentOperationName { get; private set; }

        public Task RunAsync(InboundContext context, CancellationToken cancellationToken)
        {
            TraceId = Activity.Current?.TraceId.ToHexString();
            GrandParentSpanId = Activity.Current?.Parent?.ParentSpanId.ToHexString();
            OperationName = Activity.Current?.OperationName;
            ParentOperationName = Activity.Current?.Parent?.OperationName;
            return Task.CompletedTask;
        }
    }
}
