using Mail.Auth.Results;
using Mail.Core.Model;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Tests;

/// <summary>
/// The whole check over real DNS (loopback server) with messages signed and sealed by dkimpy: SPF, DKIM, ARC and DMARC
/// results, the Authentication-Results field, and the verdict.
/// </summary>
public sealed class AuthenticationCheckTests(DnsFixture dns) : IClassFixture<DnsFixture>
{
    private const string AuthServId = "mx.receiver.test";
    private const string ClientIp = "192.0.2.10";

    private static string Domain() => "d" + Guid.NewGuid().ToString("N")[..10] + ".org";

    private static Envelope EnvelopeFor(string mailFrom, string helo = "out.sender.test", string client = ClientIp, string? user = null) => new()
    {
        QueueId = Guid.NewGuid().ToString("N"),
        MessageRef = "ref",
        ReceivedAt = DateTimeOffset.UtcNow,
        Client = new ClientInfo { Address = client, Helo = helo },
        MailFrom = mailFrom,
        Recipients = [new Recipient { Address = "bob@receiver.test" }],
        AuthenticatedUser = user,
    };

    private AuthenticationCheck Check(AuthenticationOptions? options = null) =>
        new(dns.NewResolver(), options ?? new AuthenticationOptions { AuthServId = AuthServId });

    private static async Task<(InboundContext Context, AuthenticationResults Header)> RunAsync(AuthenticationCheck check, Envelope envelope, string message)
    {
        var context = new InboundContext(envelope, Messages.Parse(message), Messages.Original(message));
        await check.RunAsync(context, CancellationToken.None);
        var header = Assert.Single(context.PrependHeaders, h => h.Id == HeaderId.AuthenticationResults);
        Assert.True(AuthenticationResults.TryParse(header.RawValue, out var parsed), header.Value);
        Assert.Equal(AuthServId, parsed.AuthenticationServiceIdentifier);
        return (context, parsed);
    }

    private static AuthenticationMethodResult Method(AuthenticationResults ar, string method) =>
        Assert.Single(ar.Results, r => r.Method == method);

    private static string Property(AuthenticationMethodResult r, string type, string name) =>
        Assert.Single(r.Properties, p => p.PropertyType == type && p.Property == name).Value;

    [Fact]
    public async Task Authenticated_sender_passes_everything()
    {
        var domain = Domain();
        var key = await TestKeys.Rsa;
        dns.Server.AddTxt(domain, [$"v=spf1 ip4:{ClientIp} -all"]);
        dns.Server.AddTxt($"sel._domainkey.{domain}", [key.Record()]);
        dns.Server.AddTxt($"_dmarc.{domain}", ["v=DMARC1; p=reject; rua=mailto:dmarc@" + domain]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(domain), "sel", domain, key);

        var (context, ar) = await RunAsync(Check(), EnvelopeFor($"bounce@{domain}"), signed);

        Assert.Equal("pass", Method(ar, "spf").Result);
        Assert.Equal($"bounce@{domain}", Property(Method(ar, "spf"), "smtp", "mailfrom"));
        var dkim = Method(ar, "dkim");
        Assert.Equal("pass", dkim.Result);
        Assert.Equal(domain, Property(dkim, "header", "d"));
        Assert.Equal("sel", Property(dkim, "header", "s"));
        Assert.Equal(8, Property(dkim, "header", "b").Length);
        var dmarc = Method(ar, "dmarc");
        Assert.Equal("pass", dmarc.Result);
        Assert.Equal(domain, Property(dmarc, "header", "from"));
        Assert.Contains("p=reject", dmarc.ResultComment, StringComparison.Ordinal);
        Assert.Equal("none", Method(ar, "arc").Result);

        var receivedSpf = Assert.Single(context.PrependHeaders, h => h.Field == "Received-SPF");
        Assert.StartsWith("pass (", receivedSpf.Value, StringComparison.Ordinal);
        Assert.Contains($"client-ip={ClientIp}", receivedSpf.Value, StringComparison.Ordinal);
        Assert.Equal(HeaderId.AuthenticationResults, context.PrependHeaders[0].Id);

        Assert.Equal("pass", context.Results["spf"]);
        Assert.Equal("pass", context.Results["dkim"]);
        Assert.Equal(domain, context.Results["dkim.domains"]);
        Assert.Equal("pass", context.Results["dmarc"]);
        Assert.Equal("reject", context.Results["dmarc.policy"]);
        Assert.Equal(Disposition.Inbox, context.Verdict.Disposition);
    }

    [Theory]
    [InlineData("reject", Disposition.Junk, Disposition.Junk)]
    [InlineData("reject", Disposition.Quarantine, Disposition.Quarantine)]
    [InlineData("quarantine", Disposition.Junk, Disposition.Junk)]
    [InlineData("none", Disposition.Quarantine, Disposition.Inbox)]
    public async Task Forged_from_is_filed_by_the_dmarc_policy(string policy, Disposition onReject, Disposition expected)
    {
        var domain = Domain();
        dns.Server.AddTxt(domain, ["v=spf1 ip4:198.51.100.1 -all"]);
        dns.Server.AddTxt($"_dmarc.{domain}", [$"v=DMARC1; p={policy}"]);

        var check = Check(new AuthenticationOptions { AuthServId = AuthServId, DmarcRejectDisposition = onReject });
        var (context, ar) = await RunAsync(check, EnvelopeFor($"ceo@{domain}"), Messages.Simple(domain));

        Assert.Equal("fail", Method(ar, "spf").Result);
        Assert.Equal("none", Method(ar, "dkim").Result);
        Assert.Equal("fail", Method(ar, "dmarc").Result);
        Assert.Equal("fail", context.Results["dmarc"]);
        Assert.Equal(expected, context.Verdict.Disposition);
    }

    [Fact]
    public async Task Null_sender_is_checked_on_the_helo_name()
    {
        var helo = "mta." + Domain();
        dns.Server.AddTxt(helo, [$"v=spf1 ip4:{ClientIp} -all"]);

        var (context, ar) = await RunAsync(Check(), EnvelopeFor("", helo), Messages.Simple(Domain()));

        var spf = Method(ar, "spf");
        Assert.Equal("pass", spf.Result);
        Assert.Equal(helo, Property(spf, "smtp", "helo"));
        Assert.Equal(helo, context.Results["spf.domain"]);
    }

    [Fact]
    public async Task Dns_failure_gives_temperror_not_a_verdict()
    {
        var domain = Domain();
        dns.Server.SetServFail(domain);
        dns.Server.SetServFail($"_dmarc.{domain}");

        var (context, ar) = await RunAsync(Check(), EnvelopeFor($"a@{domain}"), Messages.Simple(domain));

        Assert.Equal("temperror", Method(ar, "spf").Result);
        Assert.Equal("temperror", Method(ar, "dmarc").Result);
        Assert.Equal(Disposition.Inbox, context.Verdict.Disposition);
    }

    [Fact]
    public async Task Incoming_results_claiming_our_authserv_id_are_removed_others_kept()
    {
        var domain = Domain();
        var message = $"Authentication-Results: {AuthServId.ToUpperInvariant()}; dkim=pass header.d=bank.example\r\n" +
                      "Authentication-Results: mx.elsewhere.test; spf=pass smtp.mailfrom=x@y.test\r\n" +
                      $"Authentication-Results: {AuthServId} 1; garbage ((( \r\n" + Messages.Simple(domain);
        var (context, _) = await RunAsync(Check(), EnvelopeFor($"a@{domain}"), message);

        var incoming = context.Message.Headers.Where(h => h.Id == HeaderId.AuthenticationResults).ToList();
        Assert.Equal(3, incoming.Count);
        var removed = incoming.Where(h => context.RemoveHeaders.Any(p => p(h))).ToList();
        Assert.Equal(2, removed.Count);
        Assert.DoesNotContain(removed, h => h.Value.Contains("elsewhere", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticated_submission_gets_auth_pass_only()
    {
        var (context, ar) = await RunAsync(Check(), EnvelopeFor("alice@receiver.test", user: "alice@receiver.test"), Messages.Simple("receiver.test"));

        var auth = Method(ar, "auth");
        Assert.Equal("pass", auth.Result);
        Assert.Equal("alice@receiver.test", Property(auth, "smtp", "auth"));
        Assert.DoesNotContain(ar.Results, r => r.Method == "dmarc");
        Assert.Equal("pass", context.Results["auth"]);
    }

    [Fact]
    public async Task Multiple_from_domains_go_to_junk_with_dmarc_permerror()
    {
        var message = $"From: a@{Domain()}, b@{Domain()}\r\nTo: bob@receiver.test\r\nSubject: two authors\r\n\r\nhi\r\n";

        var (context, ar) = await RunAsync(Check(), EnvelopeFor("x@sender.test"), message);

        Assert.Equal("permerror", Method(ar, "dmarc").Result);
        Assert.Equal(Disposition.Junk, context.Verdict.Disposition);
    }

    [Fact]
    public async Task Trusted_arc_sealer_overrides_dmarc_failure_of_a_mailing_list()
    {
        var origin = Domain();
        var list = "lists." + Domain();
        var key = await TestKeys.Rsa;
        dns.Server.AddTxt($"sel._domainkey.{origin}", [key.Record()]);
        dns.Server.AddTxt($"_dmarc.{origin}", ["v=DMARC1; p=reject"]);
        dns.Server.AddTxt($"arc._domainkey.{list}", [key.Record()]);
        dns.Server.AddTxt(list, [$"v=spf1 ip4:{ClientIp} -all"]);

        // The author's domain signs; the list changes the subject (breaking that signature) after recording what it
        // saw, then seals the message with ARC.
        var signed = await Dkimpy.SignAsync(Messages.Simple(origin, subject: "Meeting"), "sel", origin, key);
        var relayed = $"Authentication-Results: {list}; dkim=pass header.d={origin}; dmarc=pass header.from={origin}\r\n"
                      + signed.Replace("Subject: Meeting", "Subject: [team] Meeting", StringComparison.Ordinal);
        var sealedMessage = await Dkimpy.ArcSignAsync(relayed, "arc", list, key, list);
        Assert.Contains("ARC-Seal:", sealedMessage, StringComparison.Ordinal);

        var untrusted = await RunAsync(Check(), EnvelopeFor($"bounces@{list}"), sealedMessage);
        Assert.Equal("fail", Method(untrusted.Header, "dkim").Result);
        Assert.Equal("fail", Method(untrusted.Header, "dmarc").Result);
        Assert.Equal("pass", Method(untrusted.Header, "arc").Result);
        Assert.Equal(list, untrusted.Context.Results["arc.sealer"]);
        Assert.Equal(Disposition.Junk, untrusted.Context.Verdict.Disposition);

        var trusting = Check(new AuthenticationOptions { AuthServId = AuthServId, TrustedArcSealers = [list] });
        var trusted = await RunAsync(trusting, EnvelopeFor($"bounces@{list}"), sealedMessage);
        Assert.Equal("fail", Method(trusted.Header, "dmarc").Result);
        Assert.Contains("override=arc:" + list, Method(trusted.Header, "dmarc").ResultComment, StringComparison.Ordinal);
        Assert.Equal($"arc:{list}:dmarc", trusted.Context.Results["dmarc.override"]);
        Assert.Equal(Disposition.Inbox, trusted.Context.Verdict.Disposition);
    }

    [Fact]
    public async Task Only_the_newest_sealer_of_a_two_hop_chain_can_lift_a_dmarc_failure()
    {
        var origin = Domain();
        var first = "fwd." + Domain();
        var second = "lists." + Domain();
        var key = await TestKeys.Rsa;
        dns.Server.AddTxt($"_dmarc.{origin}", ["v=DMARC1; p=reject"]);
        dns.Server.AddTxt($"arc._domainkey.{first}", [key.Record()]);
        dns.Server.AddTxt($"arc._domainkey.{second}", [key.Record()]);

        var hop1 = await Dkimpy.ArcSignAsync($"Authentication-Results: {first}; dmarc=pass header.from={origin}\r\n" + Messages.Simple(origin),
            "arc", first, key, first);
        var hop2 = await Dkimpy.ArcSignAsync($"Authentication-Results: {second}; arc=pass; dmarc=pass header.from={origin}\r\n" + hop1,
            "arc", second, key, second);
        Assert.Contains("i=2", hop2, StringComparison.Ordinal);

        // The chain vouches through its newest sealer: trusting only the first hop lifts nothing.
        var onlyFirst = Check(new AuthenticationOptions { AuthServId = AuthServId, TrustedArcSealers = [first] });
        var (context1, ar1) = await RunAsync(onlyFirst, EnvelopeFor($"bounces@{second}"), hop2);
        Assert.Equal("pass", Method(ar1, "arc").Result);
        Assert.Equal(second, context1.Results["arc.sealer"]);
        Assert.False(context1.Results.ContainsKey("dmarc.override"));
        Assert.Equal(Disposition.Junk, context1.Verdict.Disposition);

        var newest = Check(new AuthenticationOptions { AuthServId = AuthServId, TrustedArcSealers = [second] });
        var (context2, _) = await RunAsync(newest, EnvelopeFor($"bounces@{second}"), hop2);
        Assert.Equal($"arc:{second}:dmarc", context2.Results["dmarc.override"]);
        Assert.Equal(Disposition.Inbox, context2.Verdict.Disposition);
    }

    [Fact]
    public async Task Broken_arc_chain_is_fail_and_overrides_nothing()
    {
        var origin = Domain();
        var list = "lists." + Domain();
        var key = await TestKeys.Rsa;
        dns.Server.AddTxt($"_dmarc.{origin}", ["v=DMARC1; p=reject"]);
        dns.Server.AddTxt($"arc._domainkey.{list}", [key.Record()]);

        var relayed = $"Authentication-Results: {list}; dmarc=pass header.from={origin}\r\n" + Messages.Simple(origin, body: "original text\r\n");
        var sealedMessage = await Dkimpy.ArcSignAsync(relayed, "arc", list, key, list);
        var tampered = sealedMessage.Replace("original text", "tampered text", StringComparison.Ordinal);

        var check = Check(new AuthenticationOptions { AuthServId = AuthServId, TrustedArcSealers = [list] });
        var (context, ar) = await RunAsync(check, EnvelopeFor($"bounces@{list}"), tampered);

        Assert.Equal("fail", Method(ar, "arc").Result);
        Assert.False(context.Results.ContainsKey("dmarc.override"));
        Assert.Equal(Disposition.Junk, context.Verdict.Disposition);
    }

    [Theory]
    [InlineData("DKIM-Signature: \u00ff\u00fe garbage;;;==\r\n")]
    [InlineData("DKIM-Signature: v=1; a=ed25519-sha256; d=x.test; s=s; h=from; bh=AAAA; b=AAAA\r\n")]          // key missing, short b=
    [InlineData("DKIM-Signature: v=1; a=rsa-sha256; d=x.test; s=a b c; h=from; bh=!!!; b=???\r\n")]           // bad selector, bad base64
    [InlineData("DKIM-Signature: v=1; a=rsa-sha256; d=x.test; s=s; h=from; bh=AAAA; b=AAAA; x=99999999999999\r\n")]
    [InlineData("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=s; b=AAAA\r\nARC-Message-Signature: garbage\r\n")]
    [InlineData("ARC-Seal: i=99; cv=pass\r\nARC-Authentication-Results: i=99; x; dmarc=pass\r\n")]
    [InlineData("Authentication-Results: ((((\r\n")]
    [InlineData("From: \"unterminated <a@\r\n")]
    public async Task Malformed_authentication_headers_get_results_not_exceptions(string headers)
    {
        var message = headers + Messages.Simple(Domain());

        var (context, ar) = await RunAsync(Check(), EnvelopeFor($"x@{Domain()}"), message);

        Assert.Contains(ar.Results, r => r.Method == "dmarc");
        Assert.True(context.Results.ContainsKey("dkim"));
        Assert.True(context.Results.ContainsKey("arc"));
    }

    [Theory]
    [InlineData("", "AuthServId")]
    [InlineData("has space", "AuthServId")]
    public void Bad_authserv_id_is_refused_at_startup(string id, string setting)
    {
        var e = Assert.Throws<ArgumentException>(() => new AuthenticationOptions { AuthServId = id }.Validate());
        Assert.Contains(setting, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_public_suffix_list_file_replaces_the_shipped_one()
    {
        // With a list that makes "corp.example" a public suffix, a.corp.example and b.corp.example are different
        // organizations, so b's DKIM signature no longer aligns with a's From in relaxed mode.
        var org = Domain();
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, $"org\ncorp.{org}\n");
            dns.Server.AddTxt($"_dmarc.a.corp.{org}", ["v=DMARC1; p=none"]);
            var shipped = new Dmarc.DmarcChecker(dns.NewResolver());
            var custom = new Dmarc.DmarcChecker(dns.NewResolver(), Mail.Auth.PublicSuffix.PublicSuffixList.Load(path));
            var message = Messages.Parse(Messages.Simple($"a.corp.{org}"));
            Dkim.DkimResult[] signedByB = [new() { Code = Dkim.DkimResultCode.Pass, Domain = $"b.corp.{org}" }];

            Assert.Equal(Dmarc.DmarcResultCode.Pass, (await shipped.CheckAsync(message, null, signedByB)).Code);
            Assert.Equal(Dmarc.DmarcResultCode.Fail, (await custom.CheckAsync(message, null, signedByB)).Code);
            Assert.NotNull(new AuthenticationCheck(dns.Resolver, new AuthenticationOptions { AuthServId = AuthServId, PublicSuffixListPath = path }));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Missing_public_suffix_list_file_is_refused_at_startup()
    {
        var e = Assert.Throws<ArgumentException>(() => new AuthenticationOptions { AuthServId = AuthServId, PublicSuffixListPath = "/nonexistent/psl.dat" }.Validate());
        Assert.Contains("PublicSuffixListPath", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dmarc_failure_can_never_be_discarded()
    {
        var e = Assert.Throws<ArgumentException>(() => new AuthenticationCheck(dns.Resolver,
            new AuthenticationOptions { AuthServId = AuthServId, DmarcRejectDisposition = Disposition.Discard }));
        Assert.Contains("DmarcRejectDisposition", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_lists_one_result_per_dkim_signature()
    {
        var value = AuthenticationResultsHeader.Format(AuthServId, new AuthenticationSummary
        {
            Spf = new SpfSummary("pass", "a@x.test", "h.test"),
            Dkim =
            [
                new Dkim.DkimResult { Code = Dkim.DkimResultCode.Pass, Domain = "x.test", Selector = "s1", HeaderB = "abcdefgh" },
                new Dkim.DkimResult { Code = Dkim.DkimResultCode.Fail, Domain = "y.test", Selector = "s2", HeaderB = "ijklmnop", Reason = "body hash did not verify" },
            ],
        });
        var text = AuthenticationResultsHeader.ToHeader(value).Value;

        Assert.True(AuthenticationResults.TryParse(System.Text.Encoding.ASCII.GetBytes(text), out var parsed), text);
        var dkim = parsed.Results.Where(r => r.Method == "dkim").ToList();
        Assert.Equal(["pass", "fail"], dkim.Select(d => d.Result));
        Assert.Equal("body hash did not verify", dkim[1].ResultComment);
    }
}
