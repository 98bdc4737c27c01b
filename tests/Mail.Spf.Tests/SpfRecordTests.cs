namespace Mail.Spf.Tests;

/// <summary>The record parser alone (RFC 7208 section 4.6 and appendix A grammar).</summary>
public sealed class SpfRecordTests
{
    [Fact]
    public void Parses_every_mechanism_with_qualifiers_and_cidr_lengths()
    {
        var r = SpfRecord.Parse("v=spf1 +all -include:_spf.example.com ~a:mail.example.com/24//64 ?mx/28 ptr:example.com " +
                                "ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{ir}.bl.example.com redirect=other.example.com exp=why.example.com x-custom=%{d}");

        Assert.Equal(
            [MechanismKind.All, MechanismKind.Include, MechanismKind.A, MechanismKind.Mx, MechanismKind.Ptr, MechanismKind.Ip4, MechanismKind.Ip6, MechanismKind.Exists],
            r.Mechanisms.Select(m => m.Kind));
        Assert.Equal(
            [SpfResultCode.Pass, SpfResultCode.Fail, SpfResultCode.SoftFail, SpfResultCode.Neutral, SpfResultCode.Pass, SpfResultCode.Pass, SpfResultCode.Pass, SpfResultCode.Pass],
            r.Mechanisms.Select(m => m.Qualifier));
        var a = r.Mechanisms[2];
        Assert.Equal((24, 64), (a.Cidr4, a.Cidr6));
        Assert.Equal("mail.example.com", a.DomainSpec!.Text);
        Assert.Equal((28, 128), (r.Mechanisms[3].Cidr4, r.Mechanisms[3].Cidr6));
        Assert.Equal(32, r.Mechanisms[6].Cidr6);
        Assert.Equal("other.example.com", r.Redirect!.Text);
        Assert.Equal("why.example.com", r.Exp!.Text);
    }

    [Theory]
    [InlineData("v=spf1 -all moo", "unknown mechanism")]
    [InlineData("v=spf1 ip4:192.0.2.1/33", "CIDR length over 32")]
    [InlineData("v=spf1 ip4:192.0.2.1/032", "leading zero")]
    [InlineData("v=spf1 ip4:192.0.2", "bad ip4 network")]
    [InlineData("v=spf1 ip4:192.0.2.1\n", "bad ip4 network")]
    [InlineData("v=spf1 ip6:2001:db8::/129", "CIDR length over 128")]
    [InlineData("v=spf1 a:example.123", "invalid top label")]
    [InlineData("v=spf1 a:localhost", "must end in '.toplabel' or a macro")]
    [InlineData("v=spf1 a:", "bad syntax")]
    [InlineData("v=spf1 include", "needs ':domain'")]
    [InlineData("v=spf1 all:foo", "takes no argument")]
    [InlineData("v=spf1 ptr/24", "no CIDR length")]
    [InlineData("v=spf1 exists:%{x}.example.com", "unknown macro letter")]
    [InlineData("v=spf1 exists:%{d0}.example.com", "zero part count")]
    [InlineData("v=spf1 exists:%{r}.example.com", "only in explanation")]
    [InlineData("v=spf1 exists:100%.example.com", "'%' not followed by")]
    [InlineData("v=spf1 a:ex\u00e4mple.com", "invalid character")]
    [InlineData("v=spf1 redirect=a.example.com redirect=b.example.com", "redirect= appears twice")]
    [InlineData("v=spf1 exp=a.example.com exp=b.example.com", "exp= appears twice")]
    [InlineData("v=spf1 exp=", "empty domain-spec")]
    [InlineData("v=spf1 foo=%q", "'%' not followed by")]
    public void Syntax_errors_are_permerror_with_a_reason(string record, string reason)
    {
        var e = Assert.Throws<SpfPermErrorException>(() => SpfRecord.Parse(record));

        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("v=spf1", true)]
    [InlineData("V=SPF1 -all", true)]
    [InlineData("v=spf10", false)]
    [InlineData("v=spf1-all", false)]
    [InlineData("spf1 -all", false)]
    public void Record_selection_by_version(string txt, bool isSpf) => Assert.Equal(isSpf, SpfRecord.IsSpfRecord(txt));

    [Theory]
    [InlineData("%{d}", "example.com")]
    [InlineData("%{D}", "example.com")]
    [InlineData("%{l}", "a b+c")]
    [InlineData("%{L}", "a%20b%2Bc")]
    [InlineData("%{l+}", "a b.c")]
    [InlineData("%{l1+}", "c")]
    [InlineData("%{d999}", "example.com")]
    [InlineData("%{d1r}", "example")]
    public async Task Macro_transformers(string macro, string expected)
    {
        var m = MacroString.Parse(macro, MacroContext.DomainSpec);

        var value = await m.ExpandAsync(letter => Task.FromResult(letter switch { 'd' => "example.com", 'l' => "a b+c", _ => "?" }));

        Assert.Equal(expected, value);
    }
}
