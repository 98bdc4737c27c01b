using Mail.Core.Model;

namespace Mail.Azure.Tests;

internal static class TestData
{
    public static Envelope Envelope(string? queueId = null, string rcpt = "bob@example.org", string? traceParent = null) => new()
    {
        QueueId = queueId ?? "Q" + Guid.NewGuid().ToString("N")[..16].ToUpperInvariant(),
        MessageRef = "msg/" + Guid.NewGuid().ToString("N"),
        ReceivedAt = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero),
        Size = 1234,
        Client = new ClientInfo { Address = "192.0.2.10", Port = 40000, Helo = "client.example.net", ReverseName = "client.example.net", Tls = new TlsInfo("Tls13", "TLS_AES_256_GCM_SHA384", 256) },
        MailFrom = "alice@example.net",
        MailFromParameters = new MailFromParameters { Size = 1234, Body = BodyType.EightBitMime },
        Recipients = [new Recipient { Address = rcpt, Notify = DsnNotify.Failure, ORcpt = "rfc822;" + rcpt }],
        ConnectionResults = new Dictionary<string, string> { ["fcrdns"] = "pass" },
        TraceParent = traceParent,
    };
}

/// <summary>A clock the test moves by hand (expiry tests without sleeping).</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
