using Mail.Core.Model;
using Mail.Core.Ports;
using Xunit;

namespace Mail.Storage.Contracts;

/// <summary>
/// The documented behaviour of <see cref="IMessageQueue"/>, for every adapter. Timing uses short real lock
/// durations (cloud queues cannot use a fake clock); waits poll with a bound instead of sleeping exact times.
/// </summary>
public abstract class MessageQueueContract
{
    /// <summary>A new, empty queue for each call.</summary>
    protected abstract Task<IMessageQueue> CreateQueueAsync();

    /// <summary>How long to wait for something that should happen; cloud emulators may need more.</summary>
    protected virtual TimeSpan Patience => TimeSpan.FromSeconds(15);

    protected static readonly TimeSpan ShortLock = TimeSpan.FromSeconds(1);
    protected static readonly TimeSpan LongLock = TimeSpan.FromSeconds(60);

    public static Envelope SampleEnvelope(string? queueId = null) => new()
    {
        QueueId = queueId ?? "Q" + Guid.NewGuid().ToString("N")[..12].ToUpperInvariant(),
        MessageRef = "msg-" + Guid.NewGuid().ToString("N"),
        ReceivedAt = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero),
        Size = 1234,
        Client = new ClientInfo
        {
            Address = "192.0.2.7",
            Port = 40000,
            ReverseName = "mail.example.net",
            Helo = "mail.example.net",
            Protocol = "ESMTPS",
            Tls = new TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256),
        },
        MailFrom = "sender@example.net",
        MailFromParameters = new MailFromParameters { Size = 1234, Body = BodyType.EightBitMime, SmtpUtf8 = true, Ret = DsnRet.Hdrs, EnvId = "env-1" },
        Recipients =
        [
            new Recipient { Address = "alice@example.org", Notify = DsnNotify.Success | DsnNotify.Failure, ORcpt = "rfc822;alice@example.org" },
            new Recipient { Address = "bob@example.org" },
        ],
        AuthenticatedUser = null,
        ConnectionResults = new Dictionary<string, string> { ["spf"] = "pass", ["fcrdns"] = "pass" },
        Decisions = new EdgeDecisions { Hold = "smtpd_sender_restrictions: check_sender_access", Prepend = ["X-First: 1", "X-Second: 2"] },
        TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        Attempt = 0,
    };

    protected async Task<QueueLease?> ReceiveOneAsync(IMessageQueue queue, TimeSpan lockDuration, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? Patience);
        while (true)
        {
            var leases = await queue.ReceiveAsync(1, lockDuration);
            if (leases.Count > 0) return leases[0];
            if (DateTime.UtcNow > deadline) return null;
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Sent_envelope_is_received_whole_with_delivery_count_1()
    {
        var queue = await CreateQueueAsync();
        var sent = SampleEnvelope();
        await queue.SendAsync(sent);
        var lease = await ReceiveOneAsync(queue, LongLock);
        Assert.NotNull(lease);
        Assert.Equal(1, lease.DeliveryCount);
        Assert.False(string.IsNullOrEmpty(lease.LockToken));
        var got = lease.Envelope;
        Assert.Equal(sent.QueueId, got.QueueId);
        Assert.Equal(sent.MessageRef, got.MessageRef);
        Assert.Equal(sent.ReceivedAt, got.ReceivedAt);
        Assert.Equal(sent.Size, got.Size);
        Assert.Equal(sent.Client, got.Client);
        Assert.Equal(sent.MailFrom, got.MailFrom);
        Assert.Equal(sent.MailFromParameters, got.MailFromParameters);
        Assert.Equal(sent.Recipients.Select(r => r.Address), got.Recipients.Select(r => r.Address));
        Assert.Equal(sent.Recipients[0].Notify, got.Recipients[0].Notify);
        Assert.Equal(sent.Recipients[0].ORcpt, got.Recipients[0].ORcpt);
        Assert.Null(got.Recipients[1].Notify);
        Assert.Equal(sent.ConnectionResults, got.ConnectionResults);
        Assert.Equal(sent.Decisions, got.Decisions);
        Assert.Equal(sent.TraceParent, got.TraceParent);
        await queue.CompleteAsync(lease);
    }

    [Fact]
    public async Task Empty_queue_returns_no_lease()
    {
        var queue = await CreateQueueAsync();
        Assert.Empty(await queue.ReceiveAsync(10, LongLock));
    }

    [Fact]
    public async Task Locked_envelope_is_not_received_again_and_completed_one_never_returns()
    {
        var queue = await CreateQueueAsync();
        await queue.SendAsync(SampleEnvelope());
        var lease = await ReceiveOneAsync(queue, ShortLock);
        Assert.NotNull(lease);
        Assert.Empty(await queue.ReceiveAsync(10, LongLock));
        await queue.CompleteAsync(lease);
        // Wait past the lock: a completed envelope must not come back.
        await Task.Delay(ShortLock + TimeSpan.FromSeconds(1));
        Assert.Null(await ReceiveOneAsync(queue, LongLock, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task Expired_lock_makes_the_envelope_receivable_again_with_a_higher_delivery_count()
    {
        var queue = await CreateQueueAsync();
        var sent = SampleEnvelope();
        await queue.SendAsync(sent);
        var first = await ReceiveOneAsync(queue, ShortLock);
        Assert.NotNull(first);
        var second = await ReceiveOneAsync(queue, LongLock);
        Assert.NotNull(second);
        Assert.Equal(sent.QueueId, second.Envelope.QueueId);
        Assert.Equal(2, second.DeliveryCount);
        await queue.CompleteAsync(second);
    }

    [Fact]
    public async Task Abandon_without_delay_redelivers()
    {
        var queue = await CreateQueueAsync();
        await queue.SendAsync(SampleEnvelope());
        var first = await ReceiveOneAsync(queue, LongLock);
        await queue.AbandonAsync(first!, TimeSpan.Zero);
        var second = await ReceiveOneAsync(queue, LongLock);
        Assert.NotNull(second);
        Assert.Equal(2, second.DeliveryCount);
        await queue.CompleteAsync(second);
    }

    [Fact]
    public async Task Abandon_with_delay_hides_the_envelope_until_then()
    {
        var queue = await CreateQueueAsync();
        await queue.SendAsync(SampleEnvelope());
        var first = await ReceiveOneAsync(queue, LongLock);
        var abandonedAt = DateTimeOffset.UtcNow;
        await queue.AbandonAsync(first!, TimeSpan.FromSeconds(2));
        Assert.Empty(await queue.ReceiveAsync(10, LongLock));
        var second = await ReceiveOneAsync(queue, LongLock);
        Assert.NotNull(second);
        Assert.True(DateTimeOffset.UtcNow - abandonedAt >= TimeSpan.FromSeconds(1.5), "redelivered before its delay");
        await queue.CompleteAsync(second);
    }

    [Fact]
    public async Task Scheduled_envelope_is_invisible_until_not_before_and_listed_as_scheduled()
    {
        var queue = await CreateQueueAsync();
        var sent = SampleEnvelope();
        var notBefore = DateTimeOffset.UtcNow.AddSeconds(2);
        await queue.SendAsync(sent, notBefore);
        Assert.Empty(await queue.ReceiveAsync(10, LongLock));
        var listed = await ListAsync(queue);
        var entry = Assert.Single(listed, e => e.Envelope.QueueId == sent.QueueId);
        Assert.Equal(QueueEntryState.Scheduled, entry.State);
        var lease = await ReceiveOneAsync(queue, LongLock);
        Assert.NotNull(lease);
        Assert.True(DateTimeOffset.UtcNow >= notBefore.AddMilliseconds(-500), "received before notBefore");
        await queue.CompleteAsync(lease);
    }

    [Fact]
    public async Task Dead_lettered_envelope_is_kept_with_its_reason_and_never_received()
    {
        var queue = await CreateQueueAsync();
        var sent = SampleEnvelope();
        await queue.SendAsync(sent);
        var lease = await ReceiveOneAsync(queue, ShortLock);
        await queue.DeadLetterAsync(lease!, "poison: cannot parse");
        await Task.Delay(ShortLock + TimeSpan.FromSeconds(1));
        Assert.Empty(await queue.ReceiveAsync(10, LongLock));
        var entry = Assert.Single(await ListAsync(queue), e => e.Envelope.QueueId == sent.QueueId);
        Assert.Equal(QueueEntryState.DeadLettered, entry.State);
        Assert.Equal("poison: cannot parse", entry.DeadLetterReason);
    }

    [Fact]
    public async Task List_shows_ready_and_in_flight_envelopes()
    {
        var queue = await CreateQueueAsync();
        var a = SampleEnvelope();
        var b = SampleEnvelope();
        await queue.SendAsync(a);
        var lease = await ReceiveOneAsync(queue, LongLock);
        await queue.SendAsync(b);
        var listed = await ListAsync(queue);
        Assert.Equal(QueueEntryState.InFlight, Assert.Single(listed, e => e.Envelope.QueueId == a.QueueId).State);
        Assert.Equal(QueueEntryState.Ready, Assert.Single(listed, e => e.Envelope.QueueId == b.QueueId).State);
        await queue.CompleteAsync(lease!);
    }

    [Fact]
    public async Task Max_messages_is_respected_and_every_envelope_arrives_once()
    {
        var queue = await CreateQueueAsync();
        var ids = new HashSet<string>();
        for (var i = 0; i < 5; i++)
        {
            var e = SampleEnvelope();
            ids.Add(e.QueueId);
            await queue.SendAsync(e);
        }
        var seen = new List<string>();
        var deadline = DateTime.UtcNow + Patience;
        while (seen.Count < 5 && DateTime.UtcNow < deadline)
        {
            var leases = await queue.ReceiveAsync(2, LongLock);
            Assert.True(leases.Count <= 2);
            foreach (var l in leases)
            {
                seen.Add(l.Envelope.QueueId);
                await queue.CompleteAsync(l);
            }
            if (leases.Count == 0) await Task.Delay(100);
        }
        Assert.Equal(ids.Order(), seen.Order());
    }

    [Fact]
    public async Task Concurrent_consumers_never_share_a_locked_envelope()
    {
        var queue = await CreateQueueAsync();
        const int count = 20;
        for (var i = 0; i < count; i++) await queue.SendAsync(SampleEnvelope($"C{i:D3}"));
        var received = new System.Collections.Concurrent.ConcurrentBag<string>();
        var deadline = DateTime.UtcNow + Patience;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (received.Count < count && DateTime.UtcNow < deadline)
            {
                var leases = await queue.ReceiveAsync(3, LongLock);
                foreach (var l in leases)
                {
                    received.Add(l.Envelope.QueueId);
                    await queue.CompleteAsync(l);
                }
                if (leases.Count == 0) await Task.Delay(50);
            }
        })));
        Assert.Equal(count, received.Count);
        Assert.Equal(count, received.Distinct().Count());
    }

    protected static async Task<List<QueueEntry>> ListAsync(IMessageQueue queue)
    {
        var list = new List<QueueEntry>();
        await foreach (var e in queue.ListAsync()) list.Add(e);
        return list;
    }
}
