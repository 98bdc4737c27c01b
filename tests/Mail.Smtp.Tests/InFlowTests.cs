using System.Diagnostics.Metrics;
using MailKit.Net.Smtp;
using MailKit.Security;
using Mail.Core.Queues;
using MimeKit;

namespace Mail.Smtp.Tests;

/// <summary>
/// In-flow control (Smtp:InFlowDelay, Smtp:InFlowBacklog) over real sockets: MailKit sends to a real
/// <see cref="SmtpServer"/> whose inbound spool no worker empties, so the test is the worker: it holds the backlog over
/// the threshold, and takes envelopes with the spool's own receive. A pause is seen in the counter
/// mail.smtp.transactions.delayed (by outcome) and in <see cref="InFlowControl.Waiting"/>, never by timing.
/// </summary>
public sealed class InFlowTests
{
    private const int Threshold = 2;

    [Fact]
    public async Task Over_the_threshold_a_transaction_waits_out_the_delay_and_is_still_accepted()
    {
        using var delayed = new DelayedCounter();
        await using var server = await SmtpTestServer.StartAsync(inFlow: q => new InFlowControl(q, Threshold, TimeSpan.FromMilliseconds(200)));
        for (var i = 0; i <= Threshold; i++) await SendAsync(server, i);
        Assert.Equal(0, delayed.Total); // at or under the threshold when each of these began
        Assert.Equal(Threshold + 1, server.Queue.Incoming);

        await SendAsync(server, 99); // nobody takes anything: it waits the whole delay, then goes on

        Assert.Equal(1, delayed.Count("timeout"));
        Assert.Equal(0, delayed.Count("released"));
        Assert.Equal(Threshold + 2, (await server.QueuedAsync()).Count);
    }

    [Fact]
    public async Task With_the_delay_zero_nothing_waits()
    {
        using var delayed = new DelayedCounter();
        await using var server = await SmtpTestServer.StartAsync(inFlow: q => new InFlowControl(q, 0, TimeSpan.Zero));
        for (var i = 0; i < 4; i++) await SendAsync(server, i);
        Assert.Equal(0, delayed.Total);
        Assert.Equal(4, (await server.QueuedAsync()).Count);
    }

    [Fact]
    public async Task Each_envelope_the_worker_takes_releases_one_waiting_session_and_the_backlog_back_at_the_threshold_releases_all()
    {
        using var delayed = new DelayedCounter();
        // A delay far longer than the test: only the worker's takes can release the sessions.
        InFlowControl? control = null;
        await using var server = await SmtpTestServer.StartAsync(inFlow: q => control = new InFlowControl(q, Threshold, TimeSpan.FromMinutes(5)));
        await SendAsync(server, 0);
        var envelope = Assert.Single(await server.QueuedAsync());
        for (var i = 0; i < 3; i++) await server.Queue.SendAsync(envelope); // backlog 4, over the threshold of 2
        Assert.Equal(0, delayed.Total);

        var sessions = new[] { SendAsync(server, 1), SendAsync(server, 2) };
        await WaitUntil(() => control!.Waiting == 2, "two sessions waiting for a token");

        // One envelope taken (backlog 3, still over): one token, one session goes on and its message is accepted.
        Assert.Single(await server.Queue.ReceiveAsync(1, TimeSpan.FromMinutes(5)));
        Assert.Equal(1, control!.Waiting);
        await await Task.WhenAny(sessions);
        Assert.Equal(1, sessions.Count(s => s.IsCompleted));

        // Backlog 4 again with that message; two taken bring it back to the threshold: the other goes on too.
        Assert.Equal(2, (await server.Queue.ReceiveAsync(2, TimeSpan.FromMinutes(5))).Count);
        await Task.WhenAll(sessions);
        Assert.Equal(0, control.Waiting);
        Assert.Equal(2, delayed.Count("released"));
        Assert.Equal(0, delayed.Count("timeout"));
        Assert.Equal(6, (await server.QueuedAsync()).Count);
    }

    private static async Task SendAsync(SmtpTestServer server, int n)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@other.test"));
        message.To.Add(MailboxAddress.Parse($"alice@{SmtpTestServer.Domain}"));
        message.Subject = $"in-flow {n}";
        message.Body = new TextPart("plain") { Text = "Held back, never refused." };
        using var client = new SmtpClient();
        await client.ConnectAsync(server.Mx.Address.ToString(), server.Mx.Port, SecureSocketOptions.None);
        var reply = await client.SendAsync(message);
        Assert.Contains("queued", reply, StringComparison.OrdinalIgnoreCase);
        await client.DisconnectAsync(true);
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), $"not reached: {what}");
    }

    /// <summary>mail.smtp.transactions.delayed as a meter listener sees it, by outcome.</summary>
    private sealed class DelayedCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _counts = new();

        public DelayedCounter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Mail" && instrument.Name == "mail.smtp.transactions.delayed") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag.Key == "outcome") _counts.AddOrUpdate((string)tag.Value!, value, (_, v) => v + value);
            });
            _listener.Start();
        }

        public long Count(string outcome) => _counts.GetValueOrDefault(outcome);

        public long Total => _counts.Values.Sum();

        public void Dispose() => _listener.Dispose();
    }
}
