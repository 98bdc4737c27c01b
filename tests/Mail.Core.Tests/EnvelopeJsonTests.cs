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

    /// <summary>An envelope as this build's predecessor wrote it (format version 2): DSN and BODY parameters as keyword
    /// strings, the edge's decisions as "policy.*" connection results.</summary>
    private const string Version2 = """
        {"FormatVersion":2,"QueueId":"Q2","MessageRef":"Q2","ReceivedAt":"2026-01-01T00:00:00+00:00","Size":10,
         "Client":{"Address":"192.0.2.1","Port":0,"Helo":"client.example","Protocol":"ESMTP","Listener":"mx"},
         "MailFrom":"alice@example.org","MailFromParameters":{"Size":10,"Body":"8BITMIME","SmtpUtf8":false,"Ret":"HDRS","EnvId":"e1"},
         "Recipients":[{"Address":"bob@example.net","Notify":["SUCCESS","DELAY"],"ORcpt":"rfc822;bob@example.net","Status":0},
                       {"Address":"carol@example.net","Notify":["NEVER"],"Status":0},{"Address":"dave@example.net","Status":0}],
         "ConnectionResults":{"fcrdns":"pass","dnsbl.score":"2","policy.discard":"smtpd_client_restrictions: check_client_access",
           "policy.prepend.2":"X-B: 2","policy.prepend.1":"X-A: 1","policy.redirect":"abuse@example.org"},
         "Attempt":1,"Held":false,"IsNullSender":false}
        """;

    [Fact]
    public void A_version_2_envelope_reads_with_the_same_parameters_and_decisions()
    {
        var e = EnvelopeJson.Deserialize(Version2);
        Assert.Equal(BodyType.EightBitMime, e.MailFromParameters.Body);
        Assert.Equal(DsnRet.Hdrs, e.MailFromParameters.Ret);
        Assert.Equal("e1", e.MailFromParameters.EnvId);
        Assert.Equal(new DsnNotify?[] { DsnNotify.Success | DsnNotify.Delay, DsnNotify.Never, null }, e.Recipients.Select(r => r.Notify));
        Assert.Equal(new EdgeDecisions
        {
            Discard = "smtpd_client_restrictions: check_client_access",
            Prepend = ["X-A: 1", "X-B: 2"],
            Redirect = "abuse@example.org",
        }, e.Decisions);
        Assert.Equal(new Dictionary<string, string> { ["fcrdns"] = "pass", ["dnsbl.score"] = "2" }, e.ConnectionResults);
        // Written back, it is a version 3 record: an older build must refuse it rather than miss its decisions.
        Assert.Equal(Envelope.CurrentFormatVersion, e.FormatVersion);
        Assert.Equal(3, Envelope.CurrentFormatVersion);
        using var doc = JsonDocument.Parse(EnvelopeJson.Serialize(e));
        Assert.Equal(3, doc.RootElement.GetProperty("FormatVersion").GetInt32());
    }

    [Fact]
    public void A_version_1_record_without_the_field_has_its_decisions_upgraded_too()
    {
        var v1 = JournalVersion1.Replace("\"ConnectionResults\":{\"fcrdns\":\"pass\"}", "\"ConnectionResults\":{\"fcrdns\":\"pass\",\"policy.hold\":\"why\"}", StringComparison.Ordinal);
        Assert.NotEqual(JournalVersion1, v1);
        var e = EnvelopeJson.Deserialize(v1);
        Assert.Equal("why", e.Decisions?.Hold);
        Assert.False(e.ConnectionResults.ContainsKey("policy.hold"));
        // Nothing to upgrade: it keeps saying what it was read from.
        Assert.Equal(1, EnvelopeJson.Deserialize(JournalVersion1).FormatVersion);
    }

    [Fact]
    public void Version_3_round_trips_parameters_and_decisions_as_keywords()
    {
        var sent = Sample() with
        {
            MailFromParameters = new MailFromParameters { Size = 10, Body = BodyType.SevenBit, Ret = DsnRet.Full, EnvId = "e" },
            Recipients = [new Recipient { Address = "bob@example.net", Notify = DsnNotify.Delay | DsnNotify.Success }, new Recipient { Address = "c@example.net", Notify = DsnNotify.Never }],
            Decisions = new EdgeDecisions { Hold = "h", Filter = "smtp:[127.0.0.1]:10025", Prepend = ["X-A: 1"] },
        };
        var json = EnvelopeJson.Serialize(sent);
        using (var doc = JsonDocument.Parse(json))
        {
            var root = doc.RootElement;
            Assert.Equal("7BIT", root.GetProperty("MailFromParameters").GetProperty("Body").GetString());
            Assert.Equal("FULL", root.GetProperty("MailFromParameters").GetProperty("Ret").GetString());
            Assert.Equal(["SUCCESS", "DELAY"], root.GetProperty("Recipients")[0].GetProperty("Notify").EnumerateArray().Select(n => n.GetString()));
            Assert.Equal(["NEVER"], root.GetProperty("Recipients")[1].GetProperty("Notify").EnumerateArray().Select(n => n.GetString()));
            Assert.Equal("h", root.GetProperty("Decisions").GetProperty("Hold").GetString());
        }
        var back = EnvelopeJson.Deserialize(json);
        Assert.Equal(sent.MailFromParameters, back.MailFromParameters);
        Assert.Equal(sent.Recipients.Select(r => r.Notify), back.Recipients.Select(r => r.Notify));
        Assert.Equal(sent.Decisions, back.Decisions);
        Assert.Equal(json, EnvelopeJson.Serialize(back));
        // Version 3 keeps connection results as they are, whatever their names.
        var custom = EnvelopeJson.Deserialize(EnvelopeJson.Serialize(Sample() with { ConnectionResults = new Dictionary<string, string> { ["policy.hold"] = "a fact" } }));
        Assert.Null(custom.Decisions);
        Assert.Equal("a fact", custom.ConnectionResults["policy.hold"]);
    }

    [Theory]
    [InlineData("\"Body\":\"QUANTUMMIME\"", "\"Ret\":\"SOME\"", "\"Notify\":[\"LATER\"]")]
    [InlineData("\"Body\":7", "\"Ret\":[]", "\"Notify\":\"SUCCESS\"")]
    public void An_unknown_parameter_value_reads_as_absent(string body, string ret, string notify)
    {
        var json = Version2.Replace("\"Body\":\"8BITMIME\"", body, StringComparison.Ordinal).Replace("\"Ret\":\"HDRS\"", ret, StringComparison.Ordinal)
            .Replace("\"Notify\":[\"SUCCESS\",\"DELAY\"]", notify, StringComparison.Ordinal);
        var e = EnvelopeJson.Deserialize(json);
        Assert.Null(e.MailFromParameters.Body);
        Assert.Null(e.MailFromParameters.Ret);
        Assert.Null(e.Recipients[0].Notify);
        Assert.Equal("e1", e.MailFromParameters.EnvId);
    }
}
