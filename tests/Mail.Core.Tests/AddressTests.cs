using System.Globalization;
using Mail.Core.Model;

namespace Mail.Core.Tests;

public sealed class AddressTests
{
    private static string? ViaIdna(string domain)
    {
        var d = domain.EndsWith('.') ? domain[..^1] : domain;
        if (d.Length is 0 or > 253) return null;
        try
        {
            return new IdnMapping { AllowUnassigned = false, UseStd3AsciiRules = false }.GetAscii(d).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The ASCII fast path must answer exactly what IDNA answers.</summary>
    [Theory]
    [InlineData("Example.COM")]
    [InlineData("example.com.")]
    [InlineData("mail-1.sub_domain.example")]
    [InlineData("a..b")]
    [InlineData(".example")]
    [InlineData("-lead.example")]
    [InlineData("trail-.example")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("XN--BCHER-KVA.example")]
    [InlineData("xn--invalid-punycode-.example")]
    [InlineData("bücher.example")]
    [InlineData("ab--cd.example")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123.example")]
    [InlineData("012345678901234567890123456789012345678901234567890123456789012.example")]
    public void Domain_normalization_matches_idna(string domain)
    {
        Assert.Equal(ViaIdna(domain), Address.NormalizeDomain(domain));
    }
}
