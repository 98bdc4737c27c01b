using System.Net;

namespace Mail.Spf.Tests;

public sealed class ReceivedSpfHeaderTests
{
    private static SpfResult Result(SpfResultCode code, string mechanism = "", string? problem = null) => new()
    {
        Code = code,
        Domain = "example.com",
        Mechanism = mechanism,
        Problem = problem,
        Sender = "myname@example.com",
        Helo = "foo.example.com",
        ClientIp = IPAddress.Parse("192.0.2.1"),
    };

    [Fact]
    public void Pass_has_the_rfc_7208_9_1_shape()
    {
        var value = ReceivedSpfHeader.Format(Result(SpfResultCode.Pass, "ip4:192.0.2.0/24"), "mybox.example.org");

        Assert.Equal(
            "pass (mybox.example.org: domain of myname@example.com designates 192.0.2.1 as permitted sender) " +
            "receiver=mybox.example.org; client-ip=192.0.2.1; envelope-from=\"myname@example.com\"; helo=foo.example.com; " +
            "identity=mailfrom; mechanism=\"ip4:192.0.2.0/24\"",
            value);
    }

    [Fact]
    public void Errors_carry_the_problem_quoted_and_escaped()
    {
        var value = ReceivedSpfHeader.Format(Result(SpfResultCode.PermError, "a:x", "bad \"term\" (here)"), "mybox.example.org");

        Assert.StartsWith("permerror (mybox.example.org: permanent error in processing domain of myname@example.com)", value);
        Assert.EndsWith("problem=\"bad \\\"term\\\" (here)\"", value);
        Assert.DoesNotContain("mechanism=", value);
    }

    [Fact]
    public void Helo_identity_and_ipv6_client()
    {
        var result = Result(SpfResultCode.SoftFail, "~all") with { Identity = SpfIdentity.Helo, ClientIp = IPAddress.Parse("2001:db8::1") };

        var value = ReceivedSpfHeader.Format(result, "mx.example.org");

        Assert.StartsWith("softfail (mx.example.org: domain of transitioning foo.example.com (HELO) does not designate 2001:db8::1 as permitted sender)", value.Replace("\\(", "(").Replace("\\)", ")"));
        Assert.Contains("client-ip=\"2001:db8::1\"", value);
        Assert.Contains("identity=helo", value);
    }

    [Fact]
    public void Comment_parentheses_are_quoted()
    {
        var value = ReceivedSpfHeader.Format(Result(SpfResultCode.Neutral, "default") with { Identity = SpfIdentity.Helo }, "mx.example.org");

        Assert.Contains("domain of foo.example.com \\(HELO\\))", value);
        Assert.Contains("mechanism=default", value);
    }
}
