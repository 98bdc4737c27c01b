using System.Xml.Linq;
using Mail.Auth.Dmarc;
using Mail.Core.Model;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Storage.Embedded;

namespace Mail.Auth.Tests;

/// <summary>DMARC aggregate report data: recorded per message in the (SQLite) state store, turned into RFC 7489 XML.</summary>
public sealed class DmarcReportTests(DnsFixture dns) : IClassFixture<DnsFixture>, IDisposable
{
    private readonly string _db = Path.Combine(Path.GetTempPath(), "mail-auth-reports-" + Guid.NewGuid().ToString("N") + ".db");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(_db + suffix);
    }

    private static Envelope EnvelopeFor(string queueId, string mailFrom) => new()
    {
        QueueId = queueId,
        MessageRef = "ref",
        ReceivedAt = DateTimeOffset.UtcNow,
        Client = new ClientInfo { Address = "192.0.2.77", Helo = "out.sender.test" },
        MailFrom = mailFrom,
        Recipients = [new Recipient { Address = "bob@receiver.test" }],
    };

    [Fact]
    public async Task Evaluated_messages_are_recorded_once_each_and_reported_as_rfc7489_xml()
    {
        var domain = "r" + Guid.NewGuid().ToString("N")[..10] + ".org";
        var quiet = "q" + Guid.NewGuid().ToString("N")[..10] + ".org";
        dns.Server.AddTxt(domain, ["v=spf1 ip4:192.0.2.77 -all"]);
        dns.Server.AddTxt($"_dmarc.{domain}", [$"v=DMARC1; p=reject; rua=mailto:agg@{domain}"]);
        dns.Server.AddTxt($"_dmarc.{quiet}", ["v=DMARC1; p=reject"]); // no rua: nothing is recorded
        var store = new DmarcReportStore(new SqliteStateStore(_db));
        var check = new AuthenticationCheck(dns.NewResolver(), new AuthenticationOptions { AuthServId = "mx.receiver.test" }, reports: store);

        async Task RunAsync(string queueId, string mailFrom, string fromDomain)
        {
            var context = new InboundContext(EnvelopeFor(queueId, mailFrom), Messages.Parse(Messages.Simple(fromDomain)));
            await check.RunAsync(context, CancellationToken.None);
        }

        await RunAsync("q1", $"a@{domain}", domain);
        await RunAsync("q1", $"a@{domain}", domain); // redelivered envelope: still one entry
        await RunAsync("q2", $"b@{domain}", domain);
        await RunAsync("q3", "x@elsewhere.test", domain); // SPF not aligned, no DKIM: DMARC fails
        await RunAsync("q4", $"a@{quiet}", quiet);

        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var entries = await store.ListAsync(domain, today);
        Assert.Equal(3, entries.Count);
        Assert.Empty(await store.ListAsync(quiet, today));

        var xml = DmarcAggregateReport.Build(new DmarcReporter("Receiver Org", "dmarc@receiver.test"), "rpt-1",
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow, entries);
        var reparsed = XDocument.Parse(xml.ToString());
        var feedback = reparsed.Root!;
        Assert.Equal("feedback", feedback.Name.LocalName);
        Assert.Equal(domain, feedback.Element("policy_published")!.Element("domain")!.Value);
        Assert.Equal("reject", feedback.Element("policy_published")!.Element("p")!.Value);
        var rows = feedback.Elements("record").Select(r => r.Element("row")!).ToList();
        Assert.Equal(2, rows.Count);
        var pass = Assert.Single(rows, r => r.Element("policy_evaluated")!.Element("spf")!.Value == "pass");
        Assert.Equal("2", pass.Element("count")!.Value);
        Assert.Equal("none", pass.Element("policy_evaluated")!.Element("disposition")!.Value);
        var fail = Assert.Single(rows, r => r.Element("policy_evaluated")!.Element("spf")!.Value == "fail");
        Assert.Equal("1", fail.Element("count")!.Value);
        Assert.Equal("quarantine", fail.Element("policy_evaluated")!.Element("disposition")!.Value);
        Assert.Equal("192.0.2.77", fail.Element("source_ip")!.Value);
        Assert.All(feedback.Elements("record"), r => Assert.Equal(domain, r.Element("identifiers")!.Element("header_from")!.Value));
    }

    [Fact]
    public void A_report_without_entries_is_refused()
    {
        Assert.Throws<ArgumentException>(() => DmarcAggregateReport.Build(new DmarcReporter("o", "e@x.test"), "id", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, []));
    }
}
