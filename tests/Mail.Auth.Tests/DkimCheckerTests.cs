using Mail.Auth.Dkim;
using Mail.Core.Messages;
using Mail.Testing.Dns;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Tests;

/// <summary>DKIM verification against messages signed by dkimpy, keys served by a DNS server on loopback.</summary>
public sealed class DkimCheckerTests(DnsFixture dns) : IClassFixture<DnsFixture>
{

    private async Task<IReadOnlyList<DkimResult>> VerifyAsync(string signed, DkimOptions? options = null, TimeProvider? time = null) =>
        await new DkimChecker(dns.NewResolver(), options, time).VerifyAsync(RawMessage.Parse(System.Text.Encoding.UTF8.GetBytes(signed)));

    private static string Unique() => "s" + Guid.NewGuid().ToString("N")[..10];

    [Theory]
    [InlineData("rsa-sha256", "relaxed/relaxed")]
    [InlineData("rsa-sha256", "simple/simple")]
    [InlineData("rsa-sha256", "relaxed/simple")]
    [InlineData("ed25519-sha256", "relaxed/relaxed")]
    [InlineData("ed25519-sha256", "simple/simple")]
    public async Task Dkimpy_signature_passes(string algorithm, string canonicalization)
    {
        var key = algorithm.StartsWith("ed", StringComparison.Ordinal) ? await TestKeys.Ed25519 : await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(), selector, "example.com", key, algorithm, canonicalization);

        var result = Assert.Single(await VerifyAsync(signed));

        Assert.Equal(DkimResultCode.Pass, result.Code);
        Assert.Equal("example.com", result.Domain);
        Assert.Equal(selector, result.Selector);
        Assert.Equal(algorithm, result.Algorithm);
        Assert.Equal(8, result.HeaderB!.Length);
    }

    // The header hash is computed by our own canonicalization (DkimHeaderHash) before OpenSSL checks the RSA
    // signature: repeated fields signed bottom-up, a name listed more often than present, Content-* fields (MimeKit
    // keeps those on the body), odd whitespace and case, each canonicalization, all against dkimpy's signature.
    [Theory]
    [InlineData("relaxed/relaxed")]
    [InlineData("simple/simple")]
    [InlineData("relaxed/simple")]
    [InlineData("simple/relaxed")]
    public async Task Dkimpy_signature_over_repeated_and_content_fields_passes_and_any_signed_instance_change_fails(string canonicalization)
    {
        var key = await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var message = "X-Hop: from a.example by b.example;\r\n  Sat, 28 Nov 2026 12:00:00 +0000\r\n"
            + "X-Hop:   from c.example\t by d.example ;  Sat, 28 Nov 2026 11:00:00 +0000\r\n"
            + "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSUBJECT:   Two\t  spaces  \r\n"
            + "MIME-Version: 1.0\r\nContent-Type: text/plain;\r\n\tcharset=utf-8\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
            + "\r\nHello  there.\r\n\r\n\r\n";
        var signed = await Dkimpy.SignAsync(message, selector, "example.com", key, "rsa-sha256", canonicalization,
            "headers=from:subject:x-hop:x-hop:x-hop:content-type:mime-version:x-absent");

        Assert.Equal(DkimResultCode.Pass, Assert.Single(await VerifyAsync(signed)).Code);
        Assert.Equal(DkimResultCode.Fail, Assert.Single(await VerifyAsync(signed.Replace("c.example", "e.example", StringComparison.Ordinal))).Code);
        Assert.Equal(DkimResultCode.Fail, Assert.Single(await VerifyAsync(signed.Replace("charset=utf-8", "charset=latin1", StringComparison.Ordinal))).Code);
        // Relaxed ignores whitespace changes inside a value; simple does not.
        var respaced = await VerifyAsync(signed.Replace("Two\t  spaces", "Two spaces", StringComparison.Ordinal));
        Assert.Equal(canonicalization.StartsWith("relaxed", StringComparison.Ordinal) ? DkimResultCode.Pass : DkimResultCode.Fail,
            Assert.Single(respaced).Code);
    }

    [Theory]
    [InlineData("rsa-sha256")]
    [InlineData("ed25519-sha256")]
    public async Task Body_changed_after_signing_fails_on_body_hash(string algorithm)
    {
        var key = algorithm.StartsWith("ed", StringComparison.Ordinal) ? await TestKeys.Ed25519 : await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(body: "Pay 10 EUR.\r\n"), selector, "example.com", key, algorithm);

        var result = Assert.Single(await VerifyAsync(signed.Replace("Pay 10 EUR.", "Pay 99 EUR.", StringComparison.Ordinal)));

        Assert.Equal(DkimResultCode.Fail, result.Code);
        Assert.Contains("body hash", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rsa-sha256")]
    [InlineData("ed25519-sha256")]
    public async Task Signed_header_changed_after_signing_fails_on_signature(string algorithm)
    {
        var key = algorithm.StartsWith("ed", StringComparison.Ordinal) ? await TestKeys.Ed25519 : await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(subject: "Invoice"), selector, "example.com", key, algorithm);

        var result = Assert.Single(await VerifyAsync(signed.Replace("Subject: Invoice", "Subject: Urgent invoice", StringComparison.Ordinal)));

        Assert.Equal(DkimResultCode.Fail, result.Code);
        Assert.Contains("signature did not verify", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Body_length_limit_with_appended_content_is_policy_by_default_and_pass_when_accepted()
    {
        var key = await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(), selector, "example.com", key, "rsa-sha256", "relaxed/simple", "length");
        Assert.Contains("l=", signed, StringComparison.Ordinal);

        Assert.Equal(DkimResultCode.Pass, Assert.Single(await VerifyAsync(signed)).Code);

        var appended = signed + "Click here: http://phish.example/\r\n";
        var policy = Assert.Single(await VerifyAsync(appended));
        Assert.Equal(DkimResultCode.Policy, policy.Code);
        Assert.Contains("unsigned content", policy.Reason, StringComparison.Ordinal);

        var accepted = Assert.Single(await VerifyAsync(appended, new DkimOptions { BodyLengthPolicy = DkimBodyLengthPolicy.Accept }));
        Assert.Equal(DkimResultCode.Pass, accepted.Code);
    }

    [Fact]
    public async Task Rsa_sha1_is_refused_by_policy()
    {
        var key = await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(), selector, "example.com", key, "rsa-sha1");

        Assert.Equal(DkimResultCode.Policy, Assert.Single(await VerifyAsync(signed)).Code);
        Assert.Equal(DkimResultCode.Pass, Assert.Single(await VerifyAsync(signed, new DkimOptions { AllowRsaSha1 = true })).Code);
    }

    [Fact]
    public async Task Rsa_key_below_1024_bits_is_refused_by_policy()
    {
        var key = await Dkimpy.KeygenAsync("rsa", 768);
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(), selector, "example.com", key);

        var result = Assert.Single(await VerifyAsync(signed));
        Assert.Equal(DkimResultCode.Policy, result.Code);
        Assert.Contains("768 bits", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_key_is_permerror_and_dns_failure_is_temperror()
    {
        var key = await TestKeys.Rsa;
        var missing = Unique();
        dns.Server.SetNxDomain($"{missing}._domainkey.example.com");
        var signedMissing = await Dkimpy.SignAsync(Messages.Simple(), missing, "example.com", key);
        Assert.Equal(DkimResultCode.PermError, Assert.Single(await VerifyAsync(signedMissing)).Code);

        var broken = Unique();
        dns.Server.SetServFail($"{broken}._domainkey.example.com");
        var signedBroken = await Dkimpy.SignAsync(Messages.Simple(), broken, "example.com", key);
        Assert.Equal(DkimResultCode.TempError, Assert.Single(await VerifyAsync(signedBroken)).Code);
    }

    [Theory]
    [InlineData("v=DKIM1; k=rsa; p=", "revoked")]
    [InlineData("v=DKIM1; k=ed25519; p={rsa}", "key type")]
    [InlineData("v=DKIM1; k=rsa; h=sha1; p={rsa}", "does not allow sha256")]
    [InlineData("v=DKIM1; k=rsa; s=tlsrpt; p={rsa}", "not for email")]
    [InlineData("k=rsa; v=DKIM1; p={rsa}", "v=")]
    [InlineData("v=DKIM1; k=rsa; p=!!notbase64", "base64")]
    public async Task Unusable_key_record_is_permerror(string record, string reason)
    {
        var key = await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [record.Replace("{rsa}", key.PublicKey, StringComparison.Ordinal)]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(), selector, "example.com", key);

        var result = Assert.Single(await VerifyAsync(signed));

        Assert.Equal(DkimResultCode.PermError, result.Code);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Strict_identity_flag_requires_i_domain_equal_to_d()
    {
        var key = await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record("t=s; ")]);
        var sub = await Dkimpy.SignAsync(Messages.Simple(), selector, "example.com", key, "rsa-sha256", "relaxed/relaxed", "identity=@mail.example.com");
        var same = await Dkimpy.SignAsync(Messages.Simple(), selector, "example.com", key, "rsa-sha256", "relaxed/relaxed", "identity=@example.com");

        Assert.Equal(DkimResultCode.PermError, Assert.Single(await VerifyAsync(sub)).Code);
        Assert.Equal(DkimResultCode.Pass, Assert.Single(await VerifyAsync(same)).Code);
    }

    [Fact]
    public async Task Testing_key_turns_failure_into_neutral_but_keeps_pass()
    {
        var key = await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record("t=y; ")]);
        var signed = await Dkimpy.SignAsync(Messages.Simple(body: "original\r\n"), selector, "example.com", key);

        var pass = Assert.Single(await VerifyAsync(signed));
        Assert.Equal(DkimResultCode.Pass, pass.Code);
        Assert.True(pass.Testing);

        var broken = Assert.Single(await VerifyAsync(signed.Replace("original", "tampered", StringComparison.Ordinal)));
        Assert.Equal(DkimResultCode.Neutral, broken.Code);
    }

    [Fact]
    public async Task Expired_signature_is_permerror()
    {
        // dkimpy cannot write x=; MimeKit's signer can (SignaturesExpireAfter).
        var key = await TestKeys.Rsa;
        var selector = Unique();
        dns.Server.AddTxt($"{selector}._domainkey.example.com", [key.Record()]);
        var message = Messages.Parse(Messages.Simple());
        var pem = await File.ReadAllTextAsync(key.File);
        using (var pemStream = new MemoryStream(System.Text.Encoding.ASCII.GetBytes(pem)))
        {
            var signer = new DkimSigner(pemStream, "example.com", selector) { SignaturesExpireAfter = TimeSpan.FromHours(1) };
            signer.Sign(message, [HeaderId.From, HeaderId.Subject, HeaderId.Date]);
        }
        var text = message.ToString();
        Assert.Contains("x=", text, StringComparison.Ordinal);

        Assert.Equal(DkimResultCode.Pass, Assert.Single(await VerifyAsync(text)).Code);
        var later = new FixedTime(DateTimeOffset.UtcNow.AddHours(3));
        var expired = Assert.Single(await VerifyAsync(text, time: later));
        Assert.Equal(DkimResultCode.PermError, expired.Code);
        Assert.Contains("expired", expired.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; b=BBBB", "duplicate tag")]
    [InlineData("v=1; a=rsa-sha256; d=example.com; s=x; h=subject; bh=AAAA; b=AAAA", "From is not")]
    [InlineData("v=1; a=rsa-sha256; d=example.com; h=from; bh=AAAA; b=AAAA", "missing s=")]
    [InlineData("v=2; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "version")]
    [InlineData("v=1; a=rsa-md5; d=example.com; s=x; h=from; bh=AAAA; b=AAAA", "unknown algorithm")]
    [InlineData("v=1; a=rsa-sha256; d=example.com; i=@evil.test; s=x; h=from; bh=AAAA; b=AAAA", "i= domain")]
    [InlineData("v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=AAAA; b=AAAA; l=-5", "body length")]
    public async Task Malformed_signature_is_permerror(string value, string reason)
    {
        var message = Messages.Parse("DKIM-Signature: " + value + "\r\n" + Messages.Simple());

        var result = Assert.Single(await VerifyAsync(message.ToString()));

        Assert.Equal(DkimResultCode.PermError, result.Code);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signatures_beyond_the_limit_are_not_verified()
    {
        var junk = string.Concat(Enumerable.Range(0, 12).Select(i => $"DKIM-Signature: v=1; a=rsa-sha256; d=x{i}.test; s=s; h=from; bh=AAAA; b=AAAA\r\n"));

        var results = await VerifyAsync(junk + Messages.Simple(), new DkimOptions { MaxSignatures = 3 });

        Assert.Equal(["x0.test", "x1.test", "x2.test"], results.Select(r => r.Domain));
    }

    [Fact]
    public async Task Each_signature_gets_its_own_result()
    {
        var rsa = await TestKeys.Rsa;
        var ed = await TestKeys.Ed25519;
        var s1 = Unique();
        var s2 = Unique();
        dns.Server.AddTxt($"{s1}._domainkey.example.com", [rsa.Record()]);
        dns.Server.AddTxt($"{s2}._domainkey.relay.example.org", [ed.Record()]);
        var once = await Dkimpy.SignAsync(Messages.Simple(), s1, "example.com", rsa);
        var twice = await Dkimpy.SignAsync(once, s2, "relay.example.org", ed, "ed25519-sha256");

        var results = await VerifyAsync(twice);

        Assert.Equal(2, results.Count);
        Assert.Equal(("relay.example.org", DkimResultCode.Pass), (results[0].Domain, results[0].Code));
        Assert.Equal(("example.com", DkimResultCode.Pass), (results[1].Domain, results[1].Code));
    }
}
