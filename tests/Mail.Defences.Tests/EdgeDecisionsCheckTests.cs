using Mail.Core.Model;
using Mail.Defences.SmtpEdge;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using MimeKit;

namespace Mail.Defences.Tests;

public class EdgeDecisionsCheckTests
{
    private static async Task<InboundContext> RunAsync(Dictionary<string, string> connection)
    {
        var context = new InboundContext(new Envelope
        {
            QueueId = "Q1",
            MessageRef = "m1",
            ReceivedAt = DateTimeOffset.UnixEpoch,
            Client = new ClientInfo { Address = "192.0.2.1", Helo = "client.example" },
            MailFrom = "a@example.org",
            Recipients = [new Recipient { Address = "b@example.net" }],
            ConnectionResults = connection,
        }, new MimeMessage());
        await new EdgeDecisionsCheck().RunAsync(context, CancellationToken.None);
        return context;
    }

    [Fact]
    public async Task Hold_quarantines_and_prepends_come_in_their_order()
    {
        var c = await RunAsync(new()
        {
            ["spf"] = "pass",
            ["policy.hold"] = "smtpd_sender_restrictions: check_sender_access inline:{...}",
            ["policy.prepend.10"] = "X-Second: 2",
            ["policy.prepend.2"] = "X-First: 1",
            ["policy.prepend.x"] = "X-Ignored: bad key",
            ["policy.redirect"] = "abuse@example.net",
            ["policy.filter"] = "smtp:[127.0.0.1]:10025",
        });
        Assert.Equal(Disposition.Quarantine, c.Verdict.Disposition);
        Assert.Contains("HOLD at SMTP", c.Verdict.Reason, StringComparison.Ordinal);
        Assert.Equal(["X-First", "X-Second"], c.PrependHeaders.Select(h => h.Field));
        Assert.Equal("abuse@example.net", c.Results["policy.redirect"]);
        Assert.Equal("smtp:[127.0.0.1]:10025", c.Results["policy.filter"]);
    }

    [Fact]
    public async Task Discard_wins_over_hold()
    {
        var c = await RunAsync(new() { ["policy.hold"] = "x", ["policy.discard"] = "y" });
        Assert.Equal(Disposition.Discard, c.Verdict.Disposition);
    }

    [Fact]
    public async Task Without_edge_decisions_nothing_changes()
    {
        var c = await RunAsync(new() { ["spf"] = "fail", ["fcrdns"] = "pass" });
        Assert.Equal(Disposition.Inbox, c.Verdict.Disposition);
        Assert.Empty(c.PrependHeaders);
        Assert.Empty(c.Results);
    }
}
