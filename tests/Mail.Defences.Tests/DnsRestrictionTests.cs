using System.Net;
using Mail.Defences.Greylisting;
using Mail.Defences.Restrictions;
using Mail.Dns;
using Mail.Storage.Embedded;
using Mail.Testing.Dns;

namespace Mail.Defences.Tests;

/// <summary>Restrictions that ask DNS, against a real DNS server on loopback (helper C's TestDnsServer).</summary>
public sealed class DnsRestrictionTests : IAsyncLifetime
{
    private TestDnsServer _dns = null!;
    private RestrictionOptions _options = null!;

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        // 192.0.2.1: forward-confirmed; .3: PTR without address; .5: PTR lookup SERVFAIL; .6: PTR ok, A SERVFAIL.
        _dns.Add("1.2.0.192.in-addr.arpa", DnsRecordType.PTR, "mail.good.example");
        _dns.Add("mail.good.example", DnsRecordType.A, "192.0.2.1");
        _dns.Add("3.2.0.192.in-addr.arpa", DnsRecordType.PTR, "noaddr.example");
        _dns.SetServFail("5.2.0.192.in-addr.arpa");
        _dns.Add("6.2.0.192.in-addr.arpa", DnsRecordType.PTR, "flaky.example");
        _dns.SetServFail("flaky.example");
        // sender/recipient/helo domains
        _dns.Add("good.example", DnsRecordType.MX, "10 mail.good.example");
        _dns.Add("aonly.example", DnsRecordType.A, "192.0.2.50");
        _dns.Add("v6only.example", DnsRecordType.AAAA, "2001:db8::50");
        _dns.Add("nullmx.example", DnsRecordType.MX, "0 .");
        _dns.Add("nullmx.example", DnsRecordType.A, "192.0.2.51");
        _dns.SetServFail("broken.example");
        // RFC 5782 test entries in a DNSBL zone and an RHSBL zone.
        _dns.Add("2.0.0.127.zen.test", DnsRecordType.A, "127.0.0.2");
        _dns.Add("2.0.0.127.zen.test", DnsRecordType.TXT, "https://zen.test/lookup?127.0.0.2");
        _dns.Add("test.dbl.test", DnsRecordType.A, "127.0.1.2");
        _dns.Add("good.example.dbl.test", DnsRecordType.A, "127.0.1.2");
        _dns.Add("mail.good.example.dbl.test", DnsRecordType.A, "127.0.1.2");
        _options = new RestrictionOptions
        {
            Dns = new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], UseCache = false, Timeout = TimeSpan.FromSeconds(3), Retries = 1 }),
            AuthorizedDestinations = ["example.com"],
        };
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    private async Task<RestrictionResult> Eval(string list, SmtpStage stage, string ip = "192.0.2.1", string? helo = "mail.good.example", string? from = "a@good.example", string? rcpt = "b@example.com")
    {
        var facts = new SmtpFacts { ClientAddress = IPAddress.Parse(ip), Helo = helo, MailFrom = from, RcptTo = rcpt };
        return (await RestrictionList.Parse(list, "test_restrictions", _options).EvaluateAsync(facts, _options, stage)).Result;
    }

    [Theory]
    [InlineData("192.0.2.1", null)]
    [InlineData("192.0.2.2", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.2]")]   // no PTR
    [InlineData("192.0.2.3", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.3]")]   // PTR, no A
    [InlineData("192.0.2.5", "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.5]")]   // PTR SERVFAIL
    [InlineData("192.0.2.6", "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.6]")]   // A SERVFAIL
    public async Task Reject_unknown_client_hostname_permanent_550_temporary_450(string ip, string? reply)
    {
        var r = await Eval("reject_unknown_client_hostname", SmtpStage.Client, ip);
        Assert.Equal(reply ?? "", r.Reply);
    }

    [Theory]
    [InlineData("192.0.2.1", null)]
    [InlineData("192.0.2.3", null)]   // has a PTR, even if it does not resolve back
    [InlineData("192.0.2.2", "550 5.7.25 Client host rejected: cannot find your reverse hostname, [192.0.2.2]")]
    [InlineData("192.0.2.5", "450 4.7.25 Client host rejected: cannot find your reverse hostname, [192.0.2.5]")]
    public async Task Reject_unknown_reverse_client_hostname(string ip, string? reply) =>
        Assert.Equal(reply ?? "", (await Eval("reject_unknown_reverse_client_hostname", SmtpStage.Client, ip)).Reply);

    [Theory]
    [InlineData("a@good.example", "")]
    [InlineData("a@aonly.example", "")]
    [InlineData("a@v6only.example", "")]
    [InlineData("", "")]
    [InlineData("a@nowhere.example", "550 5.1.8 <a@nowhere.example>: Sender address rejected: Domain not found")]
    [InlineData("a@broken.example", "450 4.1.8 <a@broken.example>: Sender address rejected: Domain not found")]
    [InlineData("a@nullmx.example", "550 5.7.27 <a@nullmx.example>: Sender address rejected: Domain nullmx.example does not accept mail (nullMX)")]
    public async Task Reject_unknown_sender_domain(string from, string reply) =>
        Assert.Equal(reply, (await Eval("reject_unknown_sender_domain", SmtpStage.Sender, from: from)).Reply);

    [Theory]
    [InlineData("b@good.example", "")]
    [InlineData("b@nowhere.example", "550 5.1.2 <b@nowhere.example>: Recipient address rejected: Domain not found")]
    [InlineData("b@broken.example", "450 4.1.2 <b@broken.example>: Recipient address rejected: Domain not found")]
    [InlineData("b@nullmx.example", "556 5.1.10 <b@nullmx.example>: Recipient address rejected: Domain nullmx.example does not accept mail (nullMX)")]
    public async Task Reject_unknown_recipient_domain(string rcpt, string reply) =>
        Assert.Equal(reply, (await Eval("reject_unknown_recipient_domain", SmtpStage.Recipient, rcpt: rcpt)).Reply);

    [Fact]
    public async Task Reject_unknown_recipient_domain_does_not_look_up_our_own_destinations()
    {
        var ours = new RestrictionOptions { Dns = _options.Dns, AuthorizedDestinations = ["nowhere.example"] };
        var facts = new SmtpFacts { ClientAddress = IPAddress.Parse("192.0.2.1"), Helo = "mail.good.example", MailFrom = "a@good.example", RcptTo = "b@nowhere.example" };
        var r = (await RestrictionList.Parse("reject_unknown_recipient_domain", "test_restrictions", ours).EvaluateAsync(facts, ours, SmtpStage.Recipient)).Result;
        Assert.Equal(RestrictionOutcome.Dunno, r.Outcome);
    }

    [Fact]
    public async Task Unknown_address_reject_code_450_sends_the_enhanced_code_of_its_class_as_Postfix_does()
    {
        var postfix = new RestrictionOptions { Dns = _options.Dns, UnknownAddressRejectCode = 450 };
        var facts = new SmtpFacts { ClientAddress = IPAddress.Parse("192.0.2.1"), Helo = "mail.good.example", MailFrom = "a@nowhere.example" };
        var r = (await RestrictionList.Parse("reject_unknown_sender_domain", "test_restrictions", postfix).EvaluateAsync(facts, postfix, SmtpStage.Sender)).Result;
        Assert.Equal("450 4.1.8 <a@nowhere.example>: Sender address rejected: Domain not found", r.Reply);
    }

    [Theory]
    [InlineData("mail.good.example", "")]
    [InlineData("[192.0.2.1]", "")]
    [InlineData("nowhere.example", "550 5.7.1 <nowhere.example>: Helo command rejected: Host not found")]
    [InlineData("broken.example", "450 4.7.1 <broken.example>: Helo command rejected: Host not found")]
    public async Task Reject_unknown_helo_hostname(string helo, string reply) =>
        Assert.Equal(reply, (await Eval("reject_unknown_helo_hostname", SmtpStage.Helo, helo: helo)).Reply);

    [Fact]
    public async Task Reject_rbl_client_with_rfc5782_test_addresses()
    {
        Assert.Equal("554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.test; https://zen.test/lookup?127.0.0.2",
            (await Eval("reject_rbl_client zen.test", SmtpStage.Client, "127.0.0.2")).Reply);
        Assert.Equal("", (await Eval("reject_rbl_client zen.test", SmtpStage.Client, "127.0.0.1")).Reply);
        Assert.Equal("", (await Eval("reject_rbl_client zen.test=127.0.0.[3..11]", SmtpStage.Client, "127.0.0.2")).Reply);
        Assert.Equal(RestrictionOutcome.Permit, (await Eval("permit_dnswl_client zen.test, reject", SmtpStage.Client, "127.0.0.2")).Outcome);
    }

    [Fact]
    public async Task Rhsbl_for_sender_helo_and_client()
    {
        Assert.Equal("554 5.7.1 Service unavailable; Sender address [x@test] blocked using dbl.test", (await Eval("reject_rhsbl_sender dbl.test", SmtpStage.Sender, from: "x@test")).Reply);
        Assert.Equal("", (await Eval("reject_rhsbl_sender dbl.test", SmtpStage.Sender, from: "x@invalid")).Reply);
        Assert.Equal("554 5.7.1 Service unavailable; Helo command [mail.good.example] blocked using dbl.test", (await Eval("reject_rhsbl_helo dbl.test", SmtpStage.Helo)).Reply);
        Assert.Equal("554 5.7.1 Service unavailable; Client host [mail.good.example] blocked using dbl.test", (await Eval("reject_rhsbl_client dbl.test", SmtpStage.Client)).Reply);
        Assert.Equal("", (await Eval("reject_rhsbl_client dbl.test", SmtpStage.Client, "192.0.2.3")).Reply); // no verified name
    }

    [Fact]
    public async Task Client_access_matches_the_verified_hostname_and_its_parents()
    {
        const string list = "check_client_access inline:{ good.example=REJECT }";
        Assert.Equal("554 5.7.1 <mail.good.example[192.0.2.1]>: Client host rejected: Access denied", (await Eval(list, SmtpStage.Client)).Reply);
        Assert.Equal("", (await Eval(list, SmtpStage.Client, "192.0.2.3")).Reply); // unverified PTR names are not used
    }

    [Fact]
    public async Task Check_greylist_defers_then_accepts_the_retry()
    {
        var dir = Directory.CreateTempSubdirectory("greylist-r-").FullName;
        try
        {
            var time = new ManualTime(DateTimeOffset.UnixEpoch.AddYears(56));
            var store = new SqliteStateStore(Path.Combine(dir, "state.db"), time);
            var o = new RestrictionOptions { Greylist = new Greylist(store, new GreylistOptions(), time), AuthorizedDestinations = ["example.com"] };
            var list = RestrictionList.Parse("reject_unauth_destination, check_greylist", "smtpd_recipient_restrictions", o);
            var facts = new SmtpFacts { ClientAddress = IPAddress.Parse("198.51.100.1"), MailFrom = "a@sender.example", RcptTo = "b@example.com" };
            var first = await list.EvaluateAsync(facts, o, SmtpStage.Recipient);
            Assert.Equal("450 4.7.1 <b@example.com>: Recipient address rejected: Greylisted, please try again in 300 seconds", first.Result.Reply);
            time.Advance(TimeSpan.FromMinutes(6));
            Assert.Equal(RestrictionOutcome.Dunno, (await list.EvaluateAsync(facts, o, SmtpStage.Recipient)).Outcome);
            facts.RcptTo = "b@elsewhere.example";
            Assert.Equal(554, (await list.EvaluateAsync(facts, o, SmtpStage.Recipient)).Result.Code);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, true);
        }
    }
}
