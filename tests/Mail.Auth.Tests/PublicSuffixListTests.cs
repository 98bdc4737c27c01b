using Mail.Auth.PublicSuffix;

namespace Mail.Auth.Tests;

public sealed class PublicSuffixListTests
{
    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("mail.example.com", "example.com")]
    [InlineData("a.b.c.example.co.uk", "example.co.uk")]
    [InlineData("MAIL.Example.COM.", "example.com")]
    [InlineData("foo.bar.kobe.jp", "foo.bar.kobe.jp")] // *.kobe.jp wildcard: bar.kobe.jp is a public suffix
    [InlineData("www.city.kobe.jp", "city.kobe.jp")]   // !city.kobe.jp exception
    [InlineData("user.github.io", "user.github.io")]   // private section
    [InlineData("com", "com")]
    [InlineData("example.unknowntld", "example.unknowntld")] // implicit "*" rule
    [InlineData("bücher.example.de", "example.de")]
    public void Organizational_domain_follows_the_shipped_list(string domain, string expected)
    {
        Assert.Equal(expected, PublicSuffixList.Default.GetOrganizationalDomain(domain));
    }

    [Fact]
    public void Shipped_list_is_complete()
    {
        Assert.True(PublicSuffixList.Default.RuleCount > 9000, $"only {PublicSuffixList.Default.RuleCount} rules");
    }

    [Fact]
    public void A_list_loaded_from_a_file_replaces_the_shipped_one()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "// test list\ncom\nexample.com\n*.wild.test\n");
            var list = PublicSuffixList.Load(path);

            Assert.Equal(4 - 1, list.RuleCount);
            Assert.Equal("shop.example.com", list.GetOrganizationalDomain("www.shop.example.com"));
            Assert.Equal("x.a.wild.test", list.GetOrganizationalDomain("y.x.a.wild.test"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_file_without_rules_is_refused()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "// nothing here\n\n");
            Assert.Throws<InvalidDataException>(() => PublicSuffixList.Load(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
