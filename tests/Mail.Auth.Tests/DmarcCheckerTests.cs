using Mail.Auth.Dkim;
using Mail.Auth.Dmarc;

namespace Mail.Auth.Tests;

/// <summary>DMARC discovery, alignment and policy, records served by a DNS server on loopback.</summary>
public sealed class DmarcCheckerTests(DnsFixture dns) : IClassFixture<DnsFixture>
{
    private static string Domain() => "d" + Guid.NewGuid().ToString("N")[..10] + ".com";

    private static DkimResult DkimPass(string domain) => new() { Code = DkimResultCode.Pass, Domain = domain, Selector = "s" };

    private DmarcChecker Checker(int sample = 0) => new(dns.NewResolver(), percentSample: () => sample);

    [Fact]
    public async Task Aligned_dkim_passes_in_relaxed_mode_but_not_strict()
    {
        var relaxed = Domain();
        var strict = Domain();
        dns.Server.AddTxt("_dmarc." + relaxed, ["v=DMARC1; p=reject"]);
        dns.Server.AddTxt("_dmarc." + strict, ["v=DMARC1; p=reject; adkim=s"]);

        var r = await Checker().CheckAsync(Messages.Parse(Messages.Simple(relaxed)), null, [DkimPass("mail." + relaxed)]);
        var s = await Checker().CheckAsync(Messages.Parse(Messages.Simple(strict)), null, [DkimPass("mail." + strict)]);

        Assert.Equal(DmarcResultCode.Pass, r.Code);
        Assert.True(r.DkimAligned);
        Assert.Equal(DmarcPolicy.None, r.AppliedPolicy);
        Assert.Equal(DmarcResultCode.Fail, s.Code);
        Assert.Equal(DmarcPolicy.Reject, s.AppliedPolicy);
    }

    [Fact]
    public async Task Aligned_spf_passes_in_relaxed_mode_but_not_strict()
    {
        var relaxed = Domain();
        var strict = Domain();
        dns.Server.AddTxt("_dmarc." + relaxed, ["v=DMARC1; p=quarantine"]);
        dns.Server.AddTxt("_dmarc." + strict, ["v=DMARC1; p=quarantine; aspf=s"]);

        var r = await Checker().CheckAsync(Messages.Parse(Messages.Simple(relaxed)), "bounces." + relaxed, []);
        var s = await Checker().CheckAsync(Messages.Parse(Messages.Simple(strict)), "bounces." + strict, []);

        Assert.Equal(DmarcResultCode.Pass, r.Code);
        Assert.True(r.SpfAligned);
        Assert.Equal(DmarcResultCode.Fail, s.Code);
        Assert.Equal(DmarcPolicy.Quarantine, s.AppliedPolicy);
    }

    [Fact]
    public async Task Unaligned_passes_do_not_count()
    {
        var from = Domain();
        dns.Server.AddTxt("_dmarc." + from, ["v=DMARC1; p=reject"]);

        var result = await Checker().CheckAsync(Messages.Parse(Messages.Simple(from)), "other.example", [DkimPass("signer.example"),
            new DkimResult { Code = DkimResultCode.Fail, Domain = from }]);

        Assert.Equal(DmarcResultCode.Fail, result.Code);
        Assert.False(result.SpfAligned || result.DkimAligned);
        Assert.Equal(DmarcPolicy.Reject, result.RequestedPolicy);
    }

    [Fact]
    public async Task Subdomain_uses_the_organizational_record_and_its_sp()
    {
        var org = Domain();
        dns.Server.AddTxt("_dmarc." + org, ["v=DMARC1; p=reject; sp=quarantine"]);
        dns.Server.SetNxDomain("_dmarc.news." + org);

        var result = await Checker().CheckAsync(Messages.Parse(Messages.Simple("news." + org)), null, []);

        Assert.Equal(DmarcResultCode.Fail, result.Code);
        Assert.Equal(org, result.RecordDomain);
        Assert.Equal("news." + org, result.FromDomain);
        Assert.Equal(DmarcPolicy.Quarantine, result.RequestedPolicy);
    }

    [Fact]
    public async Task Record_at_the_author_domain_wins_over_the_organizational_one()
    {
        var org = Domain();
        dns.Server.AddTxt("_dmarc." + org, ["v=DMARC1; p=reject"]);
        dns.Server.AddTxt("_dmarc.shop." + org, ["v=DMARC1; p=none"]);

        var result = await Checker().CheckAsync(Messages.Parse(Messages.Simple("shop." + org)), null, []);

        Assert.Equal("shop." + org, result.RecordDomain);
        Assert.Equal(DmarcPolicy.None, result.AppliedPolicy);
    }

    [Theory]
    [InlineData(99, DmarcPolicy.Quarantine, true)] // outside the 50% sample: one step milder
    [InlineData(10, DmarcPolicy.Reject, false)]
    public async Task Pct_sampling_softens_the_policy_outside_the_sample(int sample, DmarcPolicy expected, bool sampledOut)
    {
        var from = Domain();
        dns.Server.AddTxt("_dmarc." + from, ["v=DMARC1; p=reject; pct=50"]);

        var result = await Checker(sample).CheckAsync(Messages.Parse(Messages.Simple(from)), null, []);

        Assert.Equal(expected, result.AppliedPolicy);
        Assert.Equal(sampledOut, result.SampledOut);
    }

    [Fact]
    public async Task No_record_is_none_and_dns_failure_is_temperror()
    {
        var none = Domain();
        var broken = Domain();
        dns.Server.SetServFail("_dmarc." + broken);

        Assert.Equal(DmarcResultCode.None, (await Checker().CheckAsync(Messages.Parse(Messages.Simple(none)), null, [])).Code);
        Assert.Equal(DmarcResultCode.TempError, (await Checker().CheckAsync(Messages.Parse(Messages.Simple(broken)), null, [])).Code);
    }

    [Fact]
    public async Task Two_records_mean_no_dmarc()
    {
        var from = Domain();
        dns.Server.AddTxt("_dmarc." + from, ["v=DMARC1; p=reject"]);
        dns.Server.AddTxt("_dmarc." + from, ["v=DMARC1; p=none"]);
        dns.Server.AddTxt("_dmarc." + from, ["unrelated text"]);

        var result = await Checker().CheckAsync(Messages.Parse(Messages.Simple(from)), null, []);

        Assert.Equal(DmarcResultCode.None, result.Code);
        Assert.Contains("multiple", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("From: a@one.example\r\nFrom: b@two.example\r\n", "multiple From header fields")]
    [InlineData("From: a@one.example, b@two.example\r\n", "different domains")]
    [InlineData("To: c@three.example\r\n", "no From")]
    public async Task Ambiguous_author_is_permerror(string headers, string reason)
    {
        var message = Messages.Parse(headers + "Subject: x\r\n\r\nbody\r\n");

        var result = await Checker().CheckAsync(message, null, []);

        Assert.Equal(DmarcResultCode.PermError, result.Code);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_mailboxes_of_one_domain_are_one_author_domain()
    {
        var from = Domain();
        dns.Server.AddTxt("_dmarc." + from, ["v=DMARC1; p=reject"]);
        var message = Messages.Parse($"From: a@{from}, b@{from.ToUpperInvariant()}\r\nSubject: x\r\n\r\nbody\r\n");

        var result = await Checker().CheckAsync(message, null, [DkimPass(from)]);

        Assert.Equal(DmarcResultCode.Pass, result.Code);
    }

    [Theory]
    [InlineData("v=DMARC1; p=reject; sp=none; pct=20; adkim=s; aspf=r; rua=mailto:agg@example.com", DmarcPolicy.Reject, 20)]
    [InlineData("v=DMARC1; rua=mailto:agg@example.com", DmarcPolicy.None, 100)]          // no p=, but rua=: p=none
    [InlineData("v=DMARC1; p=bogus; rua=mailto:agg@example.com", DmarcPolicy.None, 100)]
    [InlineData("v=DMARC1;p=quarantine;pct=150", DmarcPolicy.Quarantine, 100)]
    public void Record_parsing(string text, DmarcPolicy policy, int pct)
    {
        var record = DmarcRecord.Parse(text, out var error);

        Assert.NotNull(record);
        Assert.Null(error);
        Assert.Equal(policy, record.Policy);
        Assert.Equal(pct, record.Percent);
    }

    [Theory]
    [InlineData("v=DMARC1; p=bogus")]
    [InlineData("v=DMARC1")]
    [InlineData("v=DMARC2; p=reject")]
    [InlineData("v=DMARC1; p=reject; p=none")]
    public void Unusable_records(string text)
    {
        Assert.Null(DmarcRecord.Parse(text, out var error));
        Assert.NotNull(error);
    }
}
