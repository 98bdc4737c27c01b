using Mail.Outbound.Tls.MtaSts;

namespace Mail.Host.Tests;

/// <summary>The RFC 8461 policy and TXT record parsers, and the MX pattern match of 4.1.</summary>
public sealed class MtaStsPolicyTests
{
    [Fact]
    public void The_rfc_example_policy_parses()
    {
        // RFC 8461 3.2's example.
        var policy = MtaStsPolicy.Parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n");
        Assert.Equal(MtaStsMode.Enforce, policy.Mode);
        Assert.Equal(["mail.example.com", "*.example.net", "backupmx.example.com"], policy.Mx);
        Assert.Equal(TimeSpan.FromSeconds(604800), policy.MaxAge);
    }

    [Fact]
    public void Lf_line_ends_spaces_unknown_keys_and_a_repeated_key_are_tolerated()
    {
        var policy = MtaStsPolicy.Parse("version:STSv1\nmode:   testing  \nextension: whatever\nmx: MX.Example.NET.\nmax_age: 86400\nmode: enforce\n");
        Assert.Equal(MtaStsMode.Testing, policy.Mode);
        Assert.Equal(["mx.example.net"], policy.Mx);
    }

    [Fact]
    public void Mode_none_needs_no_mx_and_max_age_is_capped_at_one_year()
    {
        var policy = MtaStsPolicy.Parse("version: STSv1\r\nmode: none\r\nmax_age: 9999999999\r\n");
        Assert.Equal(MtaStsMode.None, policy.Mode);
        Assert.Empty(policy.Mx);
        Assert.Equal(TimeSpan.FromSeconds(MtaStsPolicy.MaxMaxAgeSeconds), policy.MaxAge);
    }

    [Theory]
    [InlineData("mode: enforce\nmx: a.example\nmax_age: 1\n", "no 'version: STSv1' line")]
    [InlineData("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version 'STSv2' is not STSv1")]
    [InlineData("version: STSv1\nmx: a.example\nmax_age: 1\n", "no 'mode' line")]
    [InlineData("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", "mode 'Enforce' is not enforce, testing or none")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\n", "no 'max_age' line")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n", "max_age '-5' is not 1 to 10 digits")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", "max_age '12345678901' is not 1 to 10 digits")]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 1\n", "mode enforce without an 'mx' line")]
    [InlineData("version: STSv1\nmode: testing\nmx: a..example\nmax_age: 1\n", "mx 'a..example' is not a host name or *.name")]
    [InlineData("version: STSv1\nmode: testing\nmx: *.*.example\nmax_age: 1\n", "mx '*.*.example' is not a host name or *.name")]
    [InlineData("<html>not a policy</html>\n", "line '<html>not a policy</html>' is not 'key: value'")]
    public void A_bad_policy_is_refused_with_what_is_wrong(string text, string problem)
    {
        var e = Assert.Throws<MtaStsPolicyException>(() => MtaStsPolicy.Parse(text));
        Assert.Equal(problem, e.Message);
    }

    [Theory]
    [InlineData("mail.example.com", true)]
    [InlineData("MAIL.example.com.", true)]
    [InlineData("mx1.example.net", true)]
    [InlineData("example.net", false)]
    [InlineData("a.mx1.example.net", false)]
    [InlineData("mail.example.com.evil", false)]
    [InlineData("xmail.example.com", false)]
    public void Mx_patterns_match_a_name_or_exactly_one_label_under_a_wildcard(string host, bool allowed)
    {
        var policy = MtaStsPolicy.Parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 1\r\n");
        Assert.Equal(allowed, policy.Allows(host));
    }

    [Theory]
    [InlineData(new[] { "v=STSv1; id=20160831085700Z;" }, "20160831085700Z", null)]
    [InlineData(new[] { "v=spf1 -all", "v=STSv1;id=abc" }, "abc", null)]
    [InlineData(new[] { "v=spf1 -all" }, null, "no v=STSv1 record")]
    [InlineData(new[] { "v=STSv1; id=1;", "v=STSv1; id=2;" }, null, "2 v=STSv1 records (RFC 8461 3.1 wants exactly one)")]
    [InlineData(new[] { "v=STSv1; ext=1" }, null, "'v=STSv1; ext=1' has no id=")]
    [InlineData(new[] { "v=STSv1; id=not-alnum" }, null, "id 'not-alnum' is not 1 to 32 letters and digits")]
    [InlineData(new[] { "v=STSv10; id=1" }, null, "'v=STSv10; id=1' does not start with the field v=STSv1")]
    public void The_txt_record_gives_the_policy_id_or_why_there_is_none(string[] records, string? id, string? problem)
    {
        Assert.Equal((id, problem), MtaStsTxtRecord.Parse(records));
    }
}
