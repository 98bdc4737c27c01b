using System.Net;
using Mail.Defences.Restrictions;

namespace Mail.Defences.Tests;

/// <summary>Restriction lists without DNS: parsing, Postfix evaluation semantics, syntax checks, access tables.</summary>
public class RestrictionTests
{
    private static readonly RestrictionOptions Options = new()
    {
        MyNetworks = [IPNetwork.Parse("192.0.2.0/24")],
        AuthorizedDestinations = ["example.com", ".sub.example.com"],
    };

    private static SmtpFacts Facts(string ip = "198.51.100.7", string? helo = "mail.client.example", string? from = "a@client.example", string? rcpt = "b@example.com") =>
        new() { ClientAddress = IPAddress.Parse(ip), Helo = helo, MailFrom = from, RcptTo = rcpt };

    private static Task<RestrictionDecision> Eval(string list, SmtpFacts facts, SmtpStage stage = SmtpStage.Recipient, RestrictionOptions? o = null) =>
        RestrictionList.Parse(list, "smtpd_recipient_restrictions", o ?? Options).EvaluateAsync(facts, o ?? Options, stage);

    [Fact]
    public void Lists_split_on_commas_and_whitespace_and_keep_arguments_and_braces()
    {
        var l = RestrictionList.Parse("permit_mynetworks,reject_unauth_destination\n  check_client_access inline:{ 1.2.3.4=REJECT, { 5.6.7.8 = 550 go away, really } }, sleep 1,\twarn_if_reject reject_non_fqdn_sender", "x", Options);
        Assert.Equal(["permit_mynetworks", "reject_unauth_destination", "check_client_access inline:{ 1.2.3.4=REJECT, { 5.6.7.8 = 550 go away, really } }", "sleep 1", "warn_if_reject", "reject_non_fqdn_sender"],
            l.Items.Select(i => i.Text));
    }

    [Theory]
    [InlineData("permit_mynetworks, reject_bogus", "smtpd_recipient_restrictions: unknown restriction 'reject_bogus'")]
    [InlineData("reject_rbl_client", "'reject_rbl_client' needs an argument")]
    [InlineData("reject_rbl_client, permit", "'reject_rbl_client' needs an argument")]
    [InlineData("reject_unknown_client_hostname", "needs a DNS resolver")]
    [InlineData("reject_rbl_client zen.example", "needs a DNS resolver")]
    [InlineData("check_greylist", "needs greylisting configured")]
    [InlineData("sleep x", "'sleep' needs a number of seconds")]
    [InlineData("check_sender_access hash:/nonexistent/access", "file /nonexistent/access does not exist")]
    [InlineData("check_sender_access cdb:/etc/x", "table type 'cdb'")]
    [InlineData("permit_mynetworks warn_if_reject", "at the end of the list")]
    [InlineData("check_policy_service inet:nowhere", "not inet:host:port")]
    public void Bad_lists_are_startup_errors_naming_the_setting(string list, string message)
    {
        var e = Assert.Throws<RestrictionConfigException>(() => RestrictionList.Parse(list, "smtpd_recipient_restrictions", new RestrictionOptions()));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("smtpd_recipient_restrictions", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task First_permit_or_reject_wins()
    {
        var fromMyNetworks = await Eval("permit_mynetworks, reject", Facts("192.0.2.9"));
        Assert.Equal(RestrictionOutcome.Permit, fromMyNetworks.Outcome);
        Assert.Equal("permit_mynetworks", fromMyNetworks.Result.DecidedBy);
        var outsider = await Eval("permit_mynetworks, reject", Facts());
        Assert.Equal(RestrictionOutcome.Reject, outsider.Outcome);
        Assert.Equal("554 5.7.1 <b@example.com>: Recipient address rejected: Access denied", outsider.Result.Reply);
        Assert.Equal(RestrictionOutcome.Dunno, (await Eval("permit_mynetworks", Facts())).Outcome);
        Assert.Equal(RestrictionOutcome.Dunno, (await Eval("", Facts())).Outcome);
    }

    [Fact]
    public async Task Permit_sasl_authenticated()
    {
        var f = Facts();
        Assert.Equal(RestrictionOutcome.Reject, (await Eval("permit_sasl_authenticated, reject", f)).Outcome);
        f.SaslUsername = "alice@example.com";
        Assert.Equal(RestrictionOutcome.Permit, (await Eval("permit_sasl_authenticated, reject", f)).Outcome);
    }

    [Fact]
    public async Task Warn_if_reject_turns_only_the_next_reject_into_a_warning()
    {
        var d = await Eval("warn_if_reject reject_non_fqdn_sender, permit", Facts(from: "a@localhost"));
        Assert.Equal(RestrictionOutcome.Permit, d.Outcome);
        Assert.Equal("reject_warning: 504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address (reject_non_fqdn_sender)", Assert.Single(d.Effects.Warnings));
        var next = await Eval("warn_if_reject permit_mynetworks, reject_non_fqdn_sender", Facts(from: "a@localhost"));
        Assert.Equal(RestrictionOutcome.Reject, next.Outcome);
    }

    [Fact]
    public async Task Defer_if_permit_and_defer_if_reject()
    {
        var p = await Eval("defer_if_permit, permit", Facts());
        Assert.Equal(450, p.Result.Code);
        var implicitPermit = await Eval("defer_if_permit", Facts());
        Assert.Equal(450, implicitPermit.Result.Code);
        var r = await Eval("defer_if_reject, reject", Facts());
        Assert.Equal(450, r.Result.Code);
        Assert.True(r.Result.IsTemporary);
        Assert.Equal(554, (await Eval("reject, defer_if_reject", Facts())).Result.Code);
    }

    [Theory]
    [InlineData("mail.example.com", true, true)]
    [InlineData("mail.example.com.", true, true)]
    [InlineData("localhost", true, false)]
    [InlineData("[192.0.2.1]", true, true)]
    [InlineData("[IPv6:2001:db8::1]", true, true)]
    [InlineData("[300.1.1.1]", false, true)]
    [InlineData("192.0.2.1", false, false)]
    [InlineData("bad_host.example", true, true)]     // Postfix allows '_'
    [InlineData("-bad.example", false, false)]
    [InlineData("bad..example", false, false)]
    [InlineData("my host.example", false, false)]
    [InlineData("xn--bcher-kva.example", true, true)]
    public async Task Helo_syntax_checks(string helo, bool valid, bool fqdn)
    {
        var f = Facts(helo: helo);
        var invalid = await Eval("reject_invalid_helo_hostname", f, SmtpStage.Helo);
        Assert.Equal(valid ? RestrictionOutcome.Dunno : RestrictionOutcome.Reject, invalid.Outcome);
        if (!valid) Assert.Equal($"501 5.5.2 <{helo}>: Helo command rejected: Invalid name", invalid.Result.Reply);
        var nonFqdn = await Eval("reject_non_fqdn_helo_hostname", f, SmtpStage.Helo);
        Assert.Equal(fqdn ? RestrictionOutcome.Dunno : RestrictionOutcome.Reject, nonFqdn.Outcome);
        if (!fqdn) Assert.Equal(504, nonFqdn.Result.Code);
    }

    [Theory]
    [InlineData("a@b.example", false)]
    [InlineData("a@localhost", true)]
    [InlineData("a", true)]
    [InlineData("a@[192.0.2.1]", false)]
    [InlineData("", false)]  // null sender
    public async Task Non_fqdn_sender_and_recipient(string address, bool rejected)
    {
        Assert.Equal(rejected, (await Eval("reject_non_fqdn_sender", Facts(from: address), SmtpStage.Sender)).Outcome == RestrictionOutcome.Reject);
        if (address.Length > 0)
        {
            var r = await Eval("reject_non_fqdn_recipient", Facts(rcpt: address));
            Assert.Equal(rejected, r.Outcome == RestrictionOutcome.Reject);
            if (rejected) Assert.Equal($"504 5.5.2 <{address}>: Recipient address rejected: need fully-qualified address", r.Result.Reply);
        }
    }

    [Theory]
    [InlineData("b@example.com", RestrictionOutcome.Dunno, RestrictionOutcome.Permit)]
    [InlineData("b@EXAMPLE.com.", RestrictionOutcome.Dunno, RestrictionOutcome.Permit)]
    [InlineData("b@x.sub.example.com", RestrictionOutcome.Dunno, RestrictionOutcome.Permit)]
    [InlineData("b@sub.example.com", RestrictionOutcome.Reject, RestrictionOutcome.Dunno)]
    [InlineData("b@elsewhere.example", RestrictionOutcome.Reject, RestrictionOutcome.Dunno)]
    public async Task Relay_control(string rcpt, RestrictionOutcome unauth, RestrictionOutcome auth)
    {
        var r = await Eval("reject_unauth_destination", Facts(rcpt: rcpt));
        Assert.Equal(unauth, r.Outcome);
        if (unauth == RestrictionOutcome.Reject) Assert.Equal($"554 5.7.1 <{rcpt}>: Relay access denied", r.Result.Reply);
        Assert.Equal(auth, (await Eval("permit_auth_destination", Facts(rcpt: rcpt))).Outcome);
        // Postfix's default relay list: trusted networks relay anywhere, others get 450 for foreign domains.
        var set = RestrictionSet.FromSettings(new Dictionary<string, string>(), Options);
        var relay = await set.EvaluateAsync(SmtpStage.Relay, Facts(rcpt: rcpt));
        Assert.Equal(unauth == RestrictionOutcome.Reject ? 450 : 0, relay.Result.Code);
        Assert.Equal(RestrictionOutcome.Permit, (await set.EvaluateAsync(SmtpStage.Relay, Facts("192.0.2.1", rcpt: rcpt))).Outcome);
    }

    [Fact]
    public async Task Reject_unauth_pipelining()
    {
        var f = Facts();
        Assert.Equal(RestrictionOutcome.Dunno, (await Eval("reject_unauth_pipelining", f, SmtpStage.Data)).Outcome);
        f.Pipelined = true;
        Assert.Equal("503 5.5.0 <unknown[198.51.100.7]>: Improper use of SMTP command pipelining", (await Eval("reject_unauth_pipelining", f, SmtpStage.Data)).Result.Reply);
    }

    [Fact]
    public async Task Reject_spf_fail_uses_the_edge_spf_result()
    {
        var f = Facts();
        f.SpfResult = "softfail";
        Assert.Equal(RestrictionOutcome.Dunno, (await Eval("reject_spf_fail", f, SmtpStage.Sender)).Outcome);
        f.SpfResult = "fail";
        f.SpfDomain = "client.example";
        Assert.Equal("550 5.7.23 <a@client.example>: Sender address rejected: SPF check failed for client.example", (await Eval("reject_spf_fail", f, SmtpStage.Sender)).Result.Reply);
    }

    [Fact]
    public async Task Sleep_waits_through_the_configured_clock_and_continues()
    {
        var slept = new List<TimeSpan>();
        var o = new RestrictionOptions { Sleep = (t, _) => { slept.Add(t); return Task.CompletedTask; } };
        var d = await Eval("sleep 2, reject", Facts(), SmtpStage.Client, o);
        Assert.Equal([TimeSpan.FromSeconds(2)], slept);
        Assert.Equal(RestrictionOutcome.Reject, d.Outcome);
        Assert.Equal("554 5.7.1 <unknown[198.51.100.7]>: Client host rejected: Access denied", d.Result.Reply);
    }

    [Fact]
    public async Task Sender_access_lookup_order_full_address_then_domain_and_parents_then_localpart()
    {
        var table = "inline:{ { spammer@bad.example = REJECT go away }, { bad.example = 550 5.7.0 domain blocked }, { .worse.example = DEFER_IF_PERMIT think again }, postmaster@=OK, <>=DUNNO, a.good.example=HOLD, b.good.example=DISCARD }";
        async Task<RestrictionDecision> S(string from) => await Eval($"check_sender_access {table}, permit", Facts(from: from), SmtpStage.Sender);
        Assert.Equal("554 5.7.1 <Spammer@BAD.example>: Sender address rejected: go away", (await S("Spammer@BAD.example")).Result.Reply);
        Assert.Equal("550 5.7.0 <x@bad.example>: Sender address rejected: domain blocked", (await S("x@bad.example")).Result.Reply);
        Assert.Equal("550 5.7.0 <x@mx.bad.example>: Sender address rejected: domain blocked", (await S("x@mx.bad.example")).Result.Reply);
        Assert.Equal(450, (await S("x@mx.worse.example")).Result.Code);
        Assert.Equal(RestrictionOutcome.Permit, (await S("x@worse.example")).Outcome); // ".worse.example" is only for subdomains
        Assert.Equal("check_sender_access " + table, (await S("postmaster@bad.example")).Result.DecidedBy);
        Assert.Equal(RestrictionOutcome.Reject, (await S("postmaster@bad.example")).Outcome); // the domain entry comes before user@
        Assert.Equal(RestrictionOutcome.Permit, (await S("postmaster@fine.example")).Outcome);
        var held = await S("x@a.good.example");
        Assert.True(held.Effects.Hold);
        Assert.Equal(RestrictionOutcome.Permit, held.Outcome);
        Assert.True((await S("x@b.good.example")).Effects.Discard);
        var nullSender = await Eval($"check_sender_access {table}, reject", Facts(from: ""), SmtpStage.Sender);
        Assert.Equal(RestrictionOutcome.Reject, nullSender.Outcome); // DUNNO for <> goes on to the next restriction
        Assert.Equal("reject", nullSender.Result.DecidedBy);
    }

    [Fact]
    public async Task Client_access_by_address_and_network_prefix_from_a_hash_source_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"access-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllText(path, """
                # blocked networks
                198.51.100    REJECT spam
                  from this network
                198.51.100.7  OK
                203.0.113     reject_unauth_pipelining
                2001:db8:0:0  554 5.7.1 v6 net blocked
                10            WARN internal
                """);
            var list = $"check_client_access hash:{path}";
            Assert.Equal(RestrictionOutcome.Permit, (await Eval(list, Facts("198.51.100.7"), SmtpStage.Client)).Outcome);
            Assert.Equal("554 5.7.1 <unknown[198.51.100.8]>: Client host rejected: spam from this network", (await Eval(list, Facts("198.51.100.8"), SmtpStage.Client)).Result.Reply);
            var f = Facts("203.0.113.5");
            f.Pipelined = true;
            Assert.Equal(503, (await Eval(list, f, SmtpStage.Client)).Result.Code); // a restriction name as the action
            Assert.Equal("554 5.7.1 <unknown[2001:db8::5]>: Client host rejected: v6 net blocked", (await Eval(list, Facts("2001:db8::5"), SmtpStage.Client)).Result.Reply);
            var warned = await Eval(list, Facts("10.1.1.1"), SmtpStage.Client);
            Assert.Equal(RestrictionOutcome.Dunno, warned.Outcome);
            Assert.Contains("WARN internal", Assert.Single(warned.Effects.Warnings), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Recipient_and_helo_access_and_effects()
    {
        var rcpt = "check_recipient_access inline:{ { abuse@example.com = PREPEND X-Abuse: yes }, spamtrap@example.com=DISCARD, { redirect@example.com = REDIRECT other@example.com } }";
        var d = await Eval(rcpt, Facts(rcpt: "abuse@example.com"));
        Assert.Equal(["X-Abuse: yes"], d.Effects.PrependHeaders);
        Assert.True((await Eval(rcpt, Facts(rcpt: "spamtrap@example.com"))).Effects.Discard);
        Assert.Equal("other@example.com", (await Eval(rcpt, Facts(rcpt: "redirect@example.com"))).Effects.Redirect);
        var helo = "check_helo_access inline:{ { example.com = REJECT You are not me }, [192.0.2.1]=REJECT }";
        Assert.Equal("554 5.7.1 <mail.example.com>: Helo command rejected: You are not me", (await Eval(helo, Facts(helo: "mail.example.com"), SmtpStage.Helo)).Result.Reply);
        Assert.Equal(RestrictionOutcome.Reject, (await Eval(helo, Facts(helo: "[192.0.2.1]"), SmtpStage.Helo)).Outcome);
        Assert.Equal(RestrictionOutcome.Dunno, (await Eval(helo, Facts(helo: "mail.other.example"), SmtpStage.Helo)).Outcome);
    }

    [Fact]
    public void Settings_with_typos_are_refused()
    {
        var e = Assert.Throws<RestrictionConfigException>(() => RestrictionSet.FromSettings(new Dictionary<string, string> { ["smtpd_recipent_restrictions"] = "permit" }, Options));
        Assert.Contains("smtpd_recipent_restrictions", e.Message, StringComparison.Ordinal);
        var bad = Assert.Throws<RestrictionConfigException>(() => RestrictionSet.FromSettings(new Dictionary<string, string> { ["smtpd_helo_restrictions"] = "reject_nonsense" }, Options));
        Assert.StartsWith("smtpd_helo_restrictions", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Access_table_file_errors_name_file_and_line()
    {
        var e = Assert.Throws<RestrictionConfigException>(() => AccessTable.Parse("a OK\n\nlonely\n", "hash:/etc/postfix/access"));
        Assert.Equal("hash:/etc/postfix/access, line 3: 'lonely' has a key but no value", e.Message);
    }
    [Fact]
    public async Task Regexp_and_cidr_access_tables_match_the_full_key_only()
    {
        var dir = Directory.CreateTempSubdirectory("access-").FullName;
        try
        {
            var helo = Path.Combine(dir, "helo_checks");
            File.WriteAllText(helo, """
                # dynamic-looking names
                /^(\d+[-.]){3}\d+\./      REJECT dynamic-looking HELO $1
                /^mail\.client\.example$/  OK
                """);
            var cidr = Path.Combine(dir, "client.cidr");
            File.WriteAllText(cidr, "198.51.100.0/24  REJECT net blocked\n198.51.100.7 OK\n2001:db8::/32 DUNNO\n");
            Assert.Equal("554 5.7.1 <10-1-2-3.dyn.example>: Helo command rejected: dynamic-looking HELO 2-",
                (await Eval($"check_helo_access regexp:{helo}", Facts(helo: "10-1-2-3.dyn.example"), SmtpStage.Helo)).Result.Reply);
            Assert.Equal(RestrictionOutcome.Permit, (await Eval($"check_helo_access pcre:{helo}", Facts(), SmtpStage.Helo)).Outcome);
            // No parent-domain lookups for pattern tables: "client.example" alone would not be tried.
            Assert.Equal(RestrictionOutcome.Dunno, (await Eval($"check_helo_access regexp:{helo}", Facts(helo: "x.mail.client.example"), SmtpStage.Helo)).Outcome);
            // cidr: first match wins, so the /24 line shadows the single address after it.
            Assert.Equal("554 5.7.1 <unknown[198.51.100.7]>: Client host rejected: net blocked", (await Eval($"check_client_access cidr:{cidr}", Facts("198.51.100.7"), SmtpStage.Client)).Result.Reply);
            Assert.Equal(RestrictionOutcome.Dunno, (await Eval($"check_client_access cidr:{cidr}", Facts("2001:db8::1"), SmtpStage.Client)).Outcome);
            Assert.Equal(RestrictionOutcome.Dunno, (await Eval($"check_client_access cidr:{cidr}", Facts("203.0.113.1"), SmtpStage.Client)).Outcome);

            File.WriteAllText(cidr, "198.51.100.1/24 OK\n");
            var e = Assert.Throws<RestrictionConfigException>(() => RestrictionList.Parse($"check_client_access cidr:{cidr}", "smtpd_client_restrictions", Options));
            Assert.Contains($"cidr:{cidr}, line 1: '198.51.100.1/24' is not a network", e.Message, StringComparison.Ordinal);
            File.WriteAllText(helo, "/ok/ OK\n/[bad/ REJECT\n");
            var re = Assert.Throws<Mail.Defences.RegexpTables.RegexpTableException>(() => RestrictionList.Parse($"check_helo_access regexp:{helo}", "smtpd_helo_restrictions", Options));
            Assert.Equal(2, re.Line);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
    [Fact]
    public async Task Restriction_classes_give_per_recipient_policies()
    {
        var o = new RestrictionOptions
        {
            AuthorizedDestinations = ["example.com"],
            RestrictionClasses = new Dictionary<string, string>
            {
                ["strict"] = "reject_non_fqdn_sender, reject_non_fqdn_helo_hostname",
                ["permissive"] = "permit",
            },
        };
        var set = RestrictionSet.FromSettings(new Dictionary<string, string>
        {
            ["smtpd_recipient_restrictions"] = "check_recipient_access inline:{ abuse@example.com=permissive, b@example.com=strict }, permit",
        }, o);
        var sloppy = Facts(helo: "localhost", from: "a@localhost");
        sloppy.RcptTo = "b@example.com";
        Assert.Equal(504, (await set.EvaluateAsync(SmtpStage.Recipient, sloppy)).Result.Code);
        sloppy.RcptTo = "abuse@example.com";
        Assert.Equal(RestrictionOutcome.Permit, (await set.EvaluateAsync(SmtpStage.Recipient, sloppy)).Outcome);
        // A class can also be named directly in a list.
        Assert.Equal(504, (await RestrictionList.Parse("strict", "x", o).EvaluateAsync(sloppy, o, SmtpStage.Recipient)).Result.Code);
    }

    [Theory]
    [InlineData("a", "b", "b", "a", "restriction class loop")]
    [InlineData("a", "reject_bogus", "b", "permit", "unknown restriction 'reject_bogus'")]
    [InlineData("permit", "reject", "b", "permit", "is the name of a built-in restriction")]
    public void Bad_restriction_classes_are_startup_errors(string n1, string v1, string n2, string v2, string message)
    {
        var o = new RestrictionOptions { RestrictionClasses = new Dictionary<string, string> { [n1] = v1, [n2] = v2 } };
        var e = Assert.Throws<RestrictionConfigException>(() => RestrictionSet.FromSettings(new Dictionary<string, string>(), o));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("smtpd_restriction_classes", e.Message, StringComparison.Ordinal);
    }
}
