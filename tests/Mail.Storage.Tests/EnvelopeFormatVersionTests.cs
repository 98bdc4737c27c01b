using Mail.Core.Model;
using Mail.Storage.Embedded;

namespace Mail.Storage.Tests;

/// <summary>
/// The spool journal's envelope records carry a format version: a record of an older build (version 1, no
/// per-recipient delivery state and no version field) still reads, one of a newer build is refused with a message that
/// says so, instead of being taken for a torn tail and dropped.
/// </summary>
public sealed class EnvelopeFormatVersionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spool-version-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A journal segment holding one envelope record with the given JSON (as an older or newer build wrote it).</summary>
    private void WriteSegment(string envelopeJson)
    {
        var spool = Path.Combine(_dir, "outbound");
        Directory.CreateDirectory(spool);
        var payload = System.Text.Encoding.UTF8.GetBytes($$"""{"k":"E","id":"0001","env":{{envelopeJson}},"vis":"2026-01-01T00:00:00+00:00"}""");
        var frame = new byte[8 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), System.IO.Hashing.Crc32.HashToUInt32(payload));
        payload.CopyTo(frame.AsSpan(8));
        File.WriteAllBytes(SpoolJournal.PathOf(spool, 1), frame);
    }

    private const string Version1 = """
        {"QueueId":"Q1","MessageRef":"Q1","ReceivedAt":"2026-01-01T00:00:00+00:00","Size":10,
         "Client":{"Address":"192.0.2.1","Helo":"client.example","Protocol":"ESMTP","Listener":"mx"},
         "MailFrom":"alice@example.org","MailFromParameters":{},"Recipients":[{"Address":"bob@example.net"}],"ConnectionResults":{},"Attempt":0}
        """;

    [Fact]
    public async Task A_version_1_record_without_delivery_state_reads_as_pending()
    {
        WriteSegment(Version1);
        var queue = new SpoolQueue(_dir, "outbound");
        var lease = Assert.Single(await queue.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        var recipient = Assert.Single(lease.Envelope.Recipients);
        Assert.Equal("bob@example.net", recipient.Address);
        Assert.Null(recipient.Delivery);
        Assert.Equal(RecipientStatus.Pending, recipient.Status);
    }

    [Fact]
    public void A_record_of_a_newer_format_is_refused_with_a_message_naming_the_versions()
    {
        WriteSegment(Version1.Replace("\"QueueId\":\"Q1\"", "\"FormatVersion\":99,\"QueueId\":\"Q1\"", StringComparison.Ordinal));
        var e = Assert.Throws<EnvelopeFormatException>(() => new SpoolQueue(_dir, "outbound"));
        Assert.Contains("format version 99", e.Message, StringComparison.Ordinal);
        Assert.Contains($"reads versions up to {Envelope.CurrentFormatVersion}", e.Message, StringComparison.Ordinal);
        Assert.Contains("Q1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Per_recipient_delivery_state_survives_the_journal()
    {
        var queue = new SpoolQueue(_dir, "outbound");
        var reply = new RemoteReply(450, "4.2.0", "Greylisted", "mx.example.net", "192.0.2.1:25");
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        await queue.SendAsync(new Envelope
        {
            QueueId = "Q2", MessageRef = "Q2", ReceivedAt = at, MailFrom = "alice@example.org",
            Client = new ClientInfo { Address = "127.0.0.1", Helo = "h" },
            Recipients = [new Recipient { Address = "later@example.net", Delivery = new RecipientDelivery(RecipientStatus.Deferred, 2, at.AddMinutes(10), at.AddDays(5), reply) }],
        });
        var reopened = new SpoolQueue(_dir, "outbound");
        var entry = Assert.Single(await reopened.ListAsync().ToListAsync());
        var delivery = Assert.Single(entry.Envelope.Recipients).Delivery;
        Assert.Equal(new RecipientDelivery(RecipientStatus.Deferred, 2, at.AddMinutes(10), at.AddDays(5), reply), delivery);
        Assert.Equal(Envelope.CurrentFormatVersion, entry.Envelope.FormatVersion);
    }
}
