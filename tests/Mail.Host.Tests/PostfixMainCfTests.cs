using Mail.Host.Import;

namespace Mail.Host.Tests;

/// <summary>main.cf read as postconf(5) reads it: logical lines, comments, $name expansion and Postfix's defaults.</summary>
public sealed class PostfixMainCfTests
{
    private static readonly PostfixMainCf s_cf = PostfixMainCf.Parse("""
        # a comment
        myhostname = mx.example.org
        mydomain = example.org
        smtpd_recipient_restrictions = permit_mynetworks,
        # a comment inside a continued value does not end it
            reject_unauth_destination,
          check_client_access hash:$config_directory/access
        config_directory = /etc/postfix
        both = ${mydomain?set}${nothing?unset}${nothing:empty}$$ $(myhostname)
        """, hostName: "host.localdomain");

    [Fact]
    public void Continuation_lines_join_and_comments_inside_are_skipped() =>
        Assert.Equal("permit_mynetworks, reject_unauth_destination, check_client_access hash:/etc/postfix/access", s_cf["smtpd_recipient_restrictions"]);

    [Fact]
    public void Conditional_and_literal_expansion_work_as_in_postconf() =>
        Assert.Equal("setempty$ mx.example.org", s_cf["both"]);

    [Fact]
    public void A_parameter_not_set_has_the_postconf_default_expanded()
    {
        Assert.Equal("mx.example.org, localhost.example.org, localhost", s_cf["mydestination"]);
        Assert.Equal("450", s_cf["unknown_address_reject_code"]);
        Assert.False(s_cf.IsSet("mydestination"));
        Assert.Equal(new[] { "myhostname", "mydomain", "smtpd_recipient_restrictions", "config_directory", "both" }, s_cf.Names);
    }

    [Fact]
    public void A_line_that_is_not_name_equals_value_names_its_line()
    {
        var e = Assert.Throws<FormatException>(() => PostfixMainCf.Parse("myhostname = a\nthis is not a parameter\n"));
        Assert.Equal("main.cf line 2: 'this is not a parameter' is not 'name = value'", e.Message);
    }

    [Fact]
    public void A_parameter_that_refers_to_itself_is_an_error_not_a_hang() =>
        Assert.Throws<FormatException>(() => PostfixMainCf.Parse("a = $b\nb = $a\n")["a"]);
}
