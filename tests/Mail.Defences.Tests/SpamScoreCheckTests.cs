using Mail.Core.Model;
using Mail.Defences.Scoring;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using MimeKit;

namespace Mail.Defences.Tests;

public class SpamScoreCheckTests
{
    private static InboundContext Context(Dictionary<string, string>? connection = null) => new(new Envelope
    {
        QueueId = "Q1",
        MessageRef = "m1",
        ReceivedAt = DateTimeOffset.UnixEpoch,
        Client = new ClientInfo { Address = "192.0.2.1", Helo = "client.example" },
        MailFrom = "a@example.org",
        Recipients = [new Recipient { Address = "b@example.net" }],
        ConnectionResults = connection ?? [],
    }, new MimeMessage());

    [Fact]
    public async Task Signals_add_up_to_junk_and_the_headers_list_them()
    {
        var c = Context(new() { ["fcrdns"] = "fail" });
        c.Results["spf"] = "fail";
        c.Results["dmarc"] = "fail";
        c.Verdict.Add("header_checks:hc:3", 0, "WARN x");
        await new SpamScoreCheck().RunAsync(c, CancellationToken.None);
        Assert.Equal(6.5, c.Verdict.Score);
        Assert.Equal(Disposition.Junk, c.Verdict.Disposition);
        Assert.Equal("6.5", c.PrependHeaders.Single(h => h.Field == "X-Spam-Score").Value);
        Assert.Equal("Yes, score=6.5 required=5.0 disposition=Junk tests=header_checks:hc:3(0.0), fcrdns=fail(1.5), spf=fail(2.0), dmarc=fail(3.0)",
            c.PrependHeaders.Single(h => h.Field == "X-Spam-Status").Value);
    }

    [Fact]
    public async Task Clean_mail_stays_in_the_inbox_and_forged_spam_headers_are_removed()
    {
        var c = Context();
        c.Results["dkim"] = "pass";
        c.Results["dmarc"] = "pass";
        c.Results["spf"] = "pass";
        await new SpamScoreCheck().RunAsync(c, CancellationToken.None);
        Assert.Equal(Disposition.Inbox, c.Verdict.Disposition);
        Assert.StartsWith("No, score=-1.5 ", c.PrependHeaders.Single(h => h.Field == "X-Spam-Status").Value, StringComparison.Ordinal);
        Assert.Contains(c.RemoveHeaders, p => p(new Header("X-Spam-Status", "No, score=-100")));
        Assert.DoesNotContain(c.RemoveHeaders, p => p(new Header("Subject", "x")));
    }

    [Fact]
    public async Task Thresholds_raise_to_quarantine_and_discard_but_never_lower()
    {
        var o = new SpamScoreOptions { Weights = new(StringComparer.OrdinalIgnoreCase) { ["dnsbl=listed"] = 12 }, QuarantineThreshold = 10, DiscardThreshold = 20 };
        var q = Context(new() { ["dnsbl"] = "listed" });
        await new SpamScoreCheck(o).RunAsync(q, CancellationToken.None);
        Assert.Equal(Disposition.Quarantine, q.Verdict.Disposition);
        var d = Context(new() { ["dnsbl"] = "listed" });
        d.Verdict.Add("manual", 10);
        await new SpamScoreCheck(o).RunAsync(d, CancellationToken.None);
        Assert.Equal(Disposition.Discard, d.Verdict.Disposition);
        var kept = Context();
        kept.Verdict.Require(Disposition.Quarantine, "HOLD by header_checks");
        await new SpamScoreCheck(o).RunAsync(kept, CancellationToken.None);
        Assert.Equal(Disposition.Quarantine, kept.Verdict.Disposition);
        Assert.Throws<ArgumentException>(() => new SpamScoreCheck(new SpamScoreOptions { JunkThreshold = 8, QuarantineThreshold = 4 }));
    }
}
