using Mail.Auth.Dkim;

namespace Mail.Auth.Tests;

/// <summary>The worked examples of RFC 6376 (appendix A) and RFC 8463 (appendix A), keys served over loopback DNS.</summary>
public sealed class RfcExampleTests(DnsFixture dns) : IClassFixture<DnsFixture>
{
    // RFC 6376 appendix C: the "brisbane" key of example.com (1024-bit RSA).
    private const string Rfc6376Key = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";

    // RFC 6376 appendix A.2. As printed, the body reads "game.  Are" (two spaces), but the signature was made over
    // "game. Are" (erratum 3192); c=simple/simple, so that space counts.
    private static string Rfc6376Message(string bodyLine) =>
        "DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n" +
        "      c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n" +
        "      h=Received : From : To : Subject : Date : Message-ID;\r\n" +
        "      bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
        "      b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n" +
        "        4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n" +
        "        KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n" +
        "        4bmp/YzhwvcubU4=;\r\n" +
        "Received: from client1.football.example.com  [192.0.2.1]\r\n" +
        "      by submitserver.example.com with SUBMISSION;\r\n" +
        "      Fri, 11 Jul 2003 21:01:54 -0700 (PDT)\r\n" +
        "From: Joe SixPack <joe@football.example.com>\r\n" +
        "To: Suzie Q <suzie@shopping.example.net>\r\n" +
        "Subject: Is dinner ready?\r\n" +
        "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
        "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
        "\r\n" +
        "Hi.\r\n" +
        "\r\n" +
        bodyLine + "\r\n" +
        "\r\n" +
        "Joe.\r\n";

    // RFC 8463 appendix A: one message signed with Ed25519 (selector brisbane) and RSA (selector test).
    private const string Rfc8463Message =
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n" +
        " d=football.example.com; i=@football.example.com;\r\n" +
        " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n" +
        " subject : date : message-id : from : subject : date;\r\n" +
        " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
        " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n" +
        " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n" +
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n" +
        " d=football.example.com; i=@football.example.com;\r\n" +
        " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n" +
        " date : message-id : from : subject : date;\r\n" +
        " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
        " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n" +
        " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n" +
        " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n" +
        "From: Joe SixPack <joe@football.example.com>\r\n" +
        "To: Suzie Q <suzie@shopping.example.net>\r\n" +
        "Subject: Is dinner ready?\r\n" +
        "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
        "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
        "\r\n" +
        "Hi.\r\n" +
        "\r\n" +
        "We lost the game.  Are you hungry yet?\r\n" +
        "\r\n" +
        "Joe.\r\n";

    [Fact]
    public async Task Rfc6376_appendix_A_example_with_errata_passes()
    {
        dns.Server.AddTxt("brisbane._domainkey.example.com", [Rfc6376Key]);
        var checker = new DkimChecker(dns.NewResolver());

        var result = Assert.Single(await checker.VerifyAsync(Messages.Parse(Rfc6376Message("We lost the game. Are you hungry yet?"))));

        Assert.Equal(DkimResultCode.Pass, result.Code);
        Assert.Equal("example.com", result.Domain);
        Assert.Equal("joe@football.example.com", result.Identity);
    }

    [Fact]
    public async Task Rfc6376_appendix_A_example_as_printed_fails_on_body_hash()
    {
        dns.Server.AddTxt("brisbane._domainkey.example.com", [Rfc6376Key]);
        var checker = new DkimChecker(dns.NewResolver());

        var result = Assert.Single(await checker.VerifyAsync(Messages.Parse(Rfc6376Message("We lost the game.  Are you hungry yet?"))));

        Assert.Equal(DkimResultCode.Fail, result.Code);
        Assert.Contains("body hash", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rfc8463_appendix_A_example_verifies_both_signatures()
    {
        dns.Server.AddTxt("brisbane._domainkey.football.example.com", ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]);
        dns.Server.AddTxt("test._domainkey.football.example.com", ["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"]);
        var checker = new DkimChecker(dns.NewResolver());

        var results = await checker.VerifyAsync(Messages.Parse(Rfc8463Message));

        Assert.Equal(2, results.Count);
        Assert.Equal(("ed25519-sha256", DkimResultCode.Pass), (results[0].Algorithm, results[0].Code));
        Assert.Equal(("rsa-sha256", DkimResultCode.Pass), (results[1].Algorithm, results[1].Code));
    }

    [Fact]
    public async Task Rfc8463_example_with_altered_body_fails_both()
    {
        dns.Server.AddTxt("brisbane._domainkey.football.example.com", ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]);
        dns.Server.AddTxt("test._domainkey.football.example.com", ["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"]);
        var checker = new DkimChecker(dns.NewResolver());

        var results = await checker.VerifyAsync(Messages.Parse(Rfc8463Message.Replace("We lost", "We won", StringComparison.Ordinal)));

        Assert.All(results, r => Assert.Equal(DkimResultCode.Fail, r.Code));
    }
}
