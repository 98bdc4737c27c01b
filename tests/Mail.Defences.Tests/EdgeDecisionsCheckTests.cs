using Mail.Core.Model;
using Mail.Defences.SmtpEdge;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using MimeKit;

namespace Mail.Defences.Tests;

public class EdgeDecisionsCheckTests
{
    private static Envelope Envelope(EdgeDecisions? decisions, Dictionary<string, string>? connection = null) => new()
    {
        QueueId = "Q1",
        MessageRef = "m1",
        ReceivedAt = DateTimeOffset.UnixEpoch,
        Client = new ClientInfo { Address = "192.0.2.1", Helo = "client.example" },
        MailFrom = "a@example.org",
        Recipients = [new Recipient { Address = "b@example.net" }],
        ConnectionResults = connection ?? new Dictionary<string, string>(),
        Decisions = decisions,
    };

    private static async Task<InboundContext> RunAsync(Envelope envelope)
    {
        var context = new InboundContext(envelope, new MimeMessage());
        await new EdgeDecisionsCheck().RunAsync(context, CancellationToken.None);
        return context;
    }

    [Fact]
    public async Task Hold_quarantines_and_prepends_come_in_their_order()
    {
        var c = await RunAsync(Envelope(new EdgeDecisions
        {
            Hold = "smtpd_sender_restrictions: check_sender_access inline:{...}",
            Prepend = ["X-First: 1", "X-Second: 2", "not a header field"],
            Redirect = "abuse@example.net",
            Filter = "smtp:[127.0.0.1]:10025",
        }, new() { ["spf"] = "pass" }));
        Assert.Equal(Disposition.Quarantine, c.Verdict.Disposition);
        Assert.Contains("HOLD at SMTP", c.Verdict.Reason, StringComparison.Ordinal);
        Assert.Equal(["X-First", "X-Second"], c.PrependHeaders.Select(h => h.Field));
        Assert.Equal("abuse@example.net", c.Results["policy.redirect"]);
        Assert.Equal("smtp:[127.0.0.1]:10025", c.Results["policy.filter"]);
    }

    [Fact]
    public async Task Discard_wins_over_hold()
    {
        var c = await RunAsync(Envelope(new EdgeDecisions { Hold = "x", Discard = "y" }));
        Assert.Equal(Disposition.Discard, c.Verdict.Disposition);
    }

    [Fact]
    public async Task Without_edge_decisions_nothing_changes()
    {
        var c = await RunAsync(Envelope(null, new() { ["spf"] = "fail", ["fcrdns"] = "pass" }));
        Assert.Equal(Disposition.Inbox, c.Verdict.Disposition);
        Assert.Empty(c.PrependHeaders);
        Assert.Empty(c.Results);
    }

    /// <summary>An envelope as version 2 wrote it (spools and queues from before the upgrade): its decisions were strings
    /// among the connection results, the prepends numbered. Read now, it gets the same verdict and headers it got then.</summary>
    private const string Version2 = """
        {"FormatVersion":2,"QueueId":"Q1","MessageRef":"m1","ReceivedAt":"1970-01-01T00:00:00+00:00","Size":0,
         "Client":{"Address":"192.0.2.1","Port":0,"Helo":"client.example","Protocol":"ESMTP","Listener":"mx"},
         "MailFrom":"a@example.org","MailFromParameters":{"SmtpUtf8":false},
         "Recipients":[{"Address":"b@example.net","Status":0}],
         "ConnectionResults":{"spf":"pass","policy.hold":"smtpd_sender_restrictions: check_sender_access inline:{...}",
           "policy.prepend.10":"X-Second: 2","policy.prepend.2":"X-First: 1","policy.prepend.x":"X-Ignored: bad key",
           "policy.redirect":"abuse@example.net","policy.filter":"smtp:[127.0.0.1]:10025"},
         "Attempt":0,"Held":false,"IsNullSender":false}
        """;

    [Fact]
    public async Task A_version_2_envelope_gets_the_decisions_it_was_written_with()
    {
        var envelope = EnvelopeJson.Deserialize(Version2);
        var c = await RunAsync(envelope);
        Assert.Equal(Disposition.Quarantine, c.Verdict.Disposition);
        Assert.Contains("HOLD at SMTP (smtpd_sender_restrictions: check_sender_access inline:{...})", c.Verdict.Reason, StringComparison.Ordinal);
        Assert.Equal(["X-First", "X-Second"], c.PrependHeaders.Select(h => h.Field));
        Assert.Equal("abuse@example.net", c.Results["policy.redirect"]);
        Assert.Equal("smtp:[127.0.0.1]:10025", c.Results["policy.filter"]);
        // The facts stay facts; a key version 2 readers ignored stays where it was.
        Assert.Equal("pass", envelope.ConnectionResults["spf"]);
        Assert.Equal("X-Ignored: bad key", envelope.ConnectionResults["policy.prepend.x"]);
        Assert.DoesNotContain("policy.hold", envelope.ConnectionResults.Keys);
    }
}
