using System.Text.Json;
using Mail.Core.Model;

namespace Mail.Core.Tests;

/// <summary>
/// The one envelope wire form (queues and spool journal): a newer build reads what older builds wrote (the queues'
/// camelCase JSON, the journal's version 1 records without a version field), and an envelope of a newer format than
/// this build knows is refused with one line that names both versions, never read with fields silently lost.
/// </summary>
public sealed class EnvelopeJsonTests
{
    private static Envelope Sample() => new()
    {
        QueueId = "Q1",
        MessageRef = "Q1",
        ReceivedAt = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
        Size = 10,
        Client = new ClientInfo { Address = "192.0.2.1", Helo = "client.example", Protocol = "ESMTP", Listener = "mx" },
        MailFrom = "alice@example.org",
        Recipients = [new Recipient { Address = "bob@example.net" }],
        ConnectionResults = new Dictionary<string, string> { ["fcrdns"] = "pass" },
    };

    /// <summary>What the Azure queue adapters wrote before the serializer moved to core (camelCase, no version field).</summary>
    private const string OldQueueForm = """
        {"queueId":"Q1","messageRef":"Q1","receivedAt":"2026-01-01T00:00:00+00:00","size":10,
         "client":{"address":"192.0.2.1","helo":"client.example","protocol":"ESMTP","listener":"mx"},
         "mailFrom":"alice@example.org","mailFromParameters":{},"recipients":[{"address":"bob@example.net"}],
         "connectionResults":{"fcrdns":"pass"},"attempt":0,"notBefore":"2026-01-02T00:00:00+00:00"}
        """;

    /// <summary>A spool journal envelope of version 1 (before per-recipient delivery state): PascalCase, no version field.</summary>
    private const string JournalVersion1 = """
        {"QueueId":"Q1","MessageRef":"Q1","ReceivedAt":"2026-01-01T00:00:00+00:00","Size":10,
         "Client":{"Address":"192.0.2.1","Helo":"client.example","Protocol":"ESMTP","Listener":"mx"},
         "MailFrom":"alice@example.org","MailFromParameters":{},"Recipients":[{"Address":"bob@example.net"}],"ConnectionResults":{"fcrdns":"pass"},"Attempt":0}
        """;

    [Fact]
    public void Writes_the_format_version_and_reads_its_own_form_back()
    {
        var json = EnvelopeJson.Serialize(Sample());
        using (var doc = JsonDocument.Parse(json))
            Assert.Equal(Envelope.CurrentFormatVersion, doc.RootElement.GetProperty("FormatVersion").GetInt32());
        var back = EnvelopeJson.Deserialize(json);
        Assert.Equal("Q1", back.QueueId);
        Assert.Equal("bob@example.net", Assert.Single(back.Recipients).Address);
        Assert.Equal("pass", back.ConnectionResults["fcrdns"]);
        Assert.Equal(json, EnvelopeJson.Serialize(back));
    }

    [Theory]
    [InlineData(OldQueueForm)]
    [InlineData(JournalVersion1)]
    public void Reads_the_forms_older_builds_wrote(string json)
    {
        var envelope = EnvelopeJson.Deserialize(json);
        Assert.Equal("Q1", envelope.QueueId);
        Assert.Equal("alice@example.org", envelope.MailFrom);
        Assert.Equal("192.0.2.1", envelope.Client.Address);
        var recipient = Assert.Single(envelope.Recipients);
        Assert.Equal("bob@example.net", recipient.Address);
        Assert.Equal(RecipientStatus.Pending, recipient.Status);
        Assert.Equal("pass", envelope.ConnectionResults["fcrdns"]);
    }

    [Fact]
    public void Adapter_properties_travel_beside_the_envelope()
    {
        var (envelope, property) = EnvelopeJson.DeserializeWithProperties(OldQueueForm);
        Assert.Equal("Q1", envelope.QueueId);
        Assert.Equal("2026-01-02T00:00:00+00:00", property(EnvelopeJson.NotBeforeProperty));
        var written = EnvelopeJson.Serialize(Sample(), [new(EnvelopeJson.DeadLetterReasonProperty, "why")]);
        Assert.Equal("why", EnvelopeJson.DeserializeWithProperties(written).Property(EnvelopeJson.DeadLetterReasonProperty));
    }

    [Theory]
    [InlineData("\"FormatVersion\":99,")]
    [InlineData("\"formatVersion\":99,")]
    public void A_newer_format_is_refused_with_one_line_naming_the_versions(string version)
    {
        var newer = JournalVersion1.Replace("{\"QueueId\"", "{" + version + "\"QueueId\"", StringComparison.Ordinal);
        var e = Assert.Throws<EnvelopeFormatException>(() => EnvelopeJson.Deserialize(newer, "inbound queue"));
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("inbound queue: envelope Q1 has format version 99; ", e.Message, StringComparison.Ordinal);
        Assert.Contains($"this build reads versions up to {Envelope.CurrentFormatVersion}", e.Message, StringComparison.Ordinal);
        Assert.Throws<EnvelopeFormatException>(() => EnvelopeJson.DeserializeWithProperties(newer));
    }
}
