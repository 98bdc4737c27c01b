using System.Diagnostics;
using Mail.Core.Queues;
using Mail.Core.Telemetry;
using Mail.Functions;
using Mail.Storage.Azure;
using MailKit.Net.Smtp;
using MimeKit;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Mail.Azure.Tests;

/// <summary>
/// One message's telemetry through the cloud path, all real except the Functions host: OpenTelemetry's SDK with its
/// in-memory exporters subscribed to <see cref="MailTelemetry"/>'s names (as TelemetrySettings does for Application
/// Insights), a MailKit client over a loopback socket to the SMTP edge on Azurite, and the inbound function invoked
/// with the queue message as the host would. The edge's span and the stage's span share one trace id, carried in the
/// envelope; the mailbox write is a descendant of the stage span; the metrics are emitted.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class TelemetryEndToEndTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Edge_and_function_spans_share_one_trace_and_the_metrics_are_emitted()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource([.. MailTelemetry.SourceNames]).AddInMemoryExporter(spans).Build();
        using var meters = Sdk.CreateMeterProviderBuilder().AddMeter(MailTelemetry.MeterName).AddInMemoryExporter(metrics).Build();

        await using var cloud = await CloudEdge.StartAsync(azurite, "bob@example.org");
        var (azure, mx) = (cloud.Azure, cloud.Mx);

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.net"));
        message.To.Add(MailboxAddress.Parse("bob@example.org"));
        message.Subject = "traced";
        message.Body = new TextPart("plain") { Text = "One trace from SMTP to the mailbox." };
        using (var client = new SmtpClient())
        {
            await client.ConnectAsync(mx.Address.ToString(), mx.Port, MailKit.Security.SecureSocketOptions.None);
            // One refusal for the metrics: an unknown user at RCPT.
            var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(message, MailboxAddress.Parse("alice@example.net"), [MailboxAddress.Parse("nobody@example.org")]));
            Assert.Equal(SmtpStatusCode.MailboxUnavailable, refused.StatusCode);
            await client.SendAsync(message);
            await client.DisconnectAsync(true);
        }

        var queue = (StorageQueueMessageQueue)azure.InboundQueue;
        var waiting = Assert.Single(await queue.ListAsync().ToListAsync());
        Assert.NotNull(waiting.Envelope.TraceParent);
        await QueueGauges.SampleAsync(queue, "inbound", TimeProvider.System, default);

        // The Functions host's part: receive, invoke, delete on success.
        var function = cloud.InboundFunction();
        var received = await cloud.ReceiveAsync();
        await function.Run(received, default);
        await queue.Queue.DeleteMessageAsync(received.MessageId, received.PopReceipt);
        Assert.Single(await azure.MailboxStore.ListMessagesAsync("bob@example.org", "INBOX"));

        tracing.ForceFlush();
        var edge = Assert.Single(spans, s => s.OperationName == "smtp.transaction" && (string?)s.GetTagItem("mail.queue_id") == waiting.Envelope.QueueId);
        var inbound = Assert.Single(spans, s => s.OperationName == InboundRunner.ActivityName && (string?)s.GetTagItem("mail.queue_id") == waiting.Envelope.QueueId);
        Assert.Equal(edge.TraceId, inbound.TraceId);
        Assert.Equal(edge.SpanId, inbound.ParentSpanId);
        var write = Assert.Single(spans, s => s.OperationName == "mailbox.write" && s.TraceId == edge.TraceId);
        Assert.True(IsDescendant(write, inbound, spans), "the mailbox write is not under the inbound stage's span");
        Assert.Equal("INBOX", write.GetTagItem("mail.mailbox"));
        // The edge's span started at MAIL, before the data; it covers the transaction.
        Assert.True(edge.StartTimeUtc < inbound.StartTimeUtc);

        meters.ForceFlush();
        Assert.True(Sum(metrics, "mail.smtp.connections") >= 1);
        Assert.True(Sum(metrics, "mail.smtp.messages.accepted") >= 1);
        Assert.True(Sum(metrics, "mail.smtp.messages.rejected", ("reason", RejectReason.UnknownRecipient)) >= 1);
        Assert.True(Sum(metrics, "mail.checks.results", ("check", "disposition"), ("result", "inbox")) >= 1);
        Assert.True(Count(metrics, "mail.stage.duration", ("stage", "smtp.transaction")) >= 1);
        Assert.True(Count(metrics, "mail.stage.duration", ("stage", "inbound")) >= 1);
        // Sampled while the envelope waited: one in the queue, received a moment ago.
        Assert.Equal(1, Gauge(metrics, "mail.queue.depth", ("queue", "inbound")));
        Assert.InRange(Gauge(metrics, "mail.queue.oldest_age", ("queue", "inbound")), 0, 120);
    }

    private static bool IsDescendant(Activity span, Activity ancestor, List<Activity> all)
    {
        for (var parent = span.ParentSpanId; parent != default;)
        {
            if (parent == ancestor.SpanId) return true;
            var up = all.FirstOrDefault(s => s.SpanId == parent);
            if (up is null) return false;
            parent = up.ParentSpanId;
        }
        return false;
    }

    private static IEnumerable<MetricPoint> Points(List<Metric> metrics, string name, (string Key, string Value)[] tags)
    {
        // The in-memory exporter keeps every export (cumulative); the last one of a metric has the totals.
        var metric = metrics.LastOrDefault(m => m.Name == name);
        Assert.True(metric is not null, $"{name} was not emitted");
        var points = new List<MetricPoint>();
        foreach (ref readonly var p in metric.GetMetricPoints())
        {
            var have = new Dictionary<string, object?>();
            foreach (var t in p.Tags) have[t.Key] = t.Value;
            if (tags.All(t => have.TryGetValue(t.Key, out var v) && (string?)v == t.Value)) points.Add(p);
        }
        return points;
    }

    private static long Sum(List<Metric> metrics, string name, params (string, string)[] tags) => Points(metrics, name, tags).Sum(p => p.GetSumLong());

    private static long Count(List<Metric> metrics, string name, params (string, string)[] tags) => Points(metrics, name, tags).Sum(p => p.GetHistogramCount());

    private static double Gauge(List<Metric> metrics, string name, params (string, string)[] tags)
    {
        var metric = metrics.Last(m => m.Name == name);
        var point = Assert.Single(Points(metrics, name, tags));
        return metric.MetricType == MetricType.LongGauge ? point.GetGaugeLastValueLong() : point.GetGaugeLastValueDouble();
    }
}
