using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Smtp.Tests;

/// <summary>250 only after the message and its envelope are durable; failures give 4xx and leave nothing behind; shutdown says 421.</summary>
public sealed class DurabilityTests
{
    [Fact]
    public async Task Reply_250_waits_until_the_envelope_is_queued_and_the_message_is_committed()
    {
        GatedQueue? gate = null;
        await using var s = await SmtpTestServer.StartAsync(wrapQueue: q => gate = new GatedQueue(q));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        await c.SendAsync("Subject: durable\r\n\r\nx\r\n.\r\n");
        var reply = c.ReadReplyAsync();
        var envelope = await gate!.Entered.Task.WaitAsync(TimeSpan.FromSeconds(15));
        // The queue is being written: the message must already be committed, and the client must not have its 250 yet.
        Assert.True(await s.Store.ExistsAsync(envelope.MessageRef));
        Assert.False(reply.IsCompleted);
        Assert.Empty(await s.QueuedAsync());
        gate.Release.SetResult();
        var r = await reply;
        Assert.Equal($"250 2.0.0 Ok: queued as {envelope.QueueId}", r.Last);
        Assert.Equal(envelope.QueueId, Assert.Single(await s.QueuedAsync()).QueueId);
    }

    [Fact]
    public async Task Queue_failure_gives_451_and_removes_the_stored_message()
    {
        await using var s = await SmtpTestServer.StartAsync(wrapQueue: q => new FailingQueue(q));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("451 4.3.0", (await c.CommandAsync("Subject: x\r\n\r\nx\r\n.")).Last);
        Assert.Empty(s.StoredMessageIds());
        // The session goes on: the client may retry.
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
    }

    [Fact]
    public async Task Store_failure_while_receiving_gives_451_after_the_data_and_the_session_continues()
    {
        await using var s = await SmtpTestServer.StartAsync(wrapStore: inner => new FailingStore(inner));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("Subject: x\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('d', 98) + "\r\n", 1000)));
        Assert.StartsWith("451 4.3.0", (await c.CommandAsync(".")).Last);
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
        // Same for BDAT: the chunk is consumed, the answer is 451.
        await c.CommandAsync("MAIL FROM:<a@other.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.SendAsync("BDAT 5000 LAST\r\n" + new string('b', 5000));
        Assert.StartsWith("451 4.3.0", (await c.ReadReplyAsync()).Last);
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
        Assert.Empty(await s.QueuedAsync());
    }

    /// <summary>Accepts the Received: header, then fails like a full disk.</summary>
    private sealed class FailingStore(IMessageStore inner) : IMessageStore
    {
        public async Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default) => new Writer(await inner.CreateAsync(id, cancellationToken));
        public Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default) => inner.OpenReadAsync(id, cancellationToken);
        public Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default) => inner.ExistsAsync(id, cancellationToken);
        public Task DeleteAsync(string id, CancellationToken cancellationToken = default) => inner.DeleteAsync(id, cancellationToken);

        private sealed class Writer(IMessageWriter inner) : IMessageWriter
        {
            public string Id => inner.Id;
            public long Length => inner.Length;

            public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
                inner.Length == 0 ? inner.WriteAsync(data, cancellationToken) : throw new IOException("No space left on device");

            public Task<StoredMessage> CommitAsync(CancellationToken cancellationToken = default) => inner.CommitAsync(cancellationToken);
            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stop_sends_421_to_every_session_and_refuses_new_connections()
    {
        var s = await SmtpTestServer.StartAsync();
        try
        {
            using var idle = s.Connect();
            await idle.ReadReplyAsync();
            await idle.EhloAsync();
            using var inData = s.Connect();
            await inData.ReadReplyAsync();
            await inData.EhloAsync();
            await inData.CommandAsync("MAIL FROM:<a@other.test>");
            await inData.CommandAsync("RCPT TO:<alice@example.test>");
            Assert.Equal(354, (await inData.CommandAsync("DATA")).Code);
            await inData.SendAsync("Subject: interrupted\r\n\r\nhalf");
            await LimitsTests.WaitForAsync(() => s.Server.ConnectionCount == 2);

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await s.Server.StopAsync(timeout.Token);

            Assert.StartsWith("421 4.3.2", (await idle.ReadReplyAsync()).Last);
            Assert.StartsWith("421 4.3.2", (await inData.ReadReplyAsync()).Last);
            Assert.True(await idle.IsClosedAsync());
            Assert.True(await inData.IsClosedAsync());
            Assert.Empty(await s.QueuedAsync());
            Assert.Empty(s.StoredMessageIds());
            Assert.ThrowsAny<System.Net.Sockets.SocketException>(() => s.Connect());
        }
        finally
        {
            await s.DisposeAsync();
        }
    }

    private sealed class GatedQueue(IMessageQueue inner) : ForwardingQueue(inner)
    {
        public TaskCompletionSource<Envelope> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default)
        {
            Entered.TrySetResult(envelope);
            await Release.Task;
            await base.SendAsync(envelope, notBefore, cancellationToken);
        }
    }

    private sealed class FailingQueue(IMessageQueue inner) : ForwardingQueue(inner)
    {
        public override Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default) =>
            throw new IOException("disk full");
    }

    private class ForwardingQueue(IMessageQueue inner) : IMessageQueue
    {
        public string Name => inner.Name;
        public virtual Task SendAsync(Envelope envelope, DateTimeOffset? notBefore = null, CancellationToken cancellationToken = default) => inner.SendAsync(envelope, notBefore, cancellationToken);
        public Task<IReadOnlyList<QueueLease>> ReceiveAsync(int maxMessages, TimeSpan lockDuration, CancellationToken cancellationToken = default) => inner.ReceiveAsync(maxMessages, lockDuration, cancellationToken);
        public Task CompleteAsync(QueueLease lease, CancellationToken cancellationToken = default) => inner.CompleteAsync(lease, cancellationToken);
        public Task AbandonAsync(QueueLease lease, TimeSpan delay, CancellationToken cancellationToken = default) => inner.AbandonAsync(lease, delay, cancellationToken);
        public Task DeadLetterAsync(QueueLease lease, string reason, CancellationToken cancellationToken = default) => inner.DeadLetterAsync(lease, reason, cancellationToken);
        public IAsyncEnumerable<QueueEntry> ListAsync(CancellationToken cancellationToken = default) => inner.ListAsync(cancellationToken);
    }
}
