using System.Net;
using Mail.Dns;
using Mail.Testing.Dns;

namespace Mail.Spf.Tests;

/// <summary>SpfChecker beyond the RFC suite, through the real DnsResolver and the loopback TestDnsServer.</summary>
public sealed class SpfCheckerTests : IAsyncLifetime
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.3");
    private TestDnsServer _server = null!;

    public async Task InitializeAsync() => _server = await TestDnsServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private SpfChecker Checker(SpfOptions? options = null, TimeSpan? dnsTimeout = null) =>
        new(new DnsResolver(new DnsResolverOptions { NameServers = [_server.EndPoint], Timeout = dnsTimeout ?? TimeSpan.FromSeconds(1), Retries = 1 }), options);

    [Fact]
    public async Task Macro_examples_of_rfc7208_section_7_4_expand_exactly()
    {
        // The explanation of a fail expands every macro in explanation context, so it shows each expansion verbatim.
        _server.Add("email.example.com", DnsRecordType.TXT, "v=spf1 -all exp=why.%{d}");
        _server.Add("why.email.example.com", DnsRecordType.TXT,
            "%{s}|%{o}|%{d}|%{d4}|%{d3}|%{d2}|%{d1}|%{dr}|%{d2r}|%{l}|%{l-}|%{lr}|%{lr-}|%{l1r-}|" +
            "%{ir}.%{v}._spf.%{d2}|%{lr-}.lp._spf.%{d2}|%{lr-}.lp.%{ir}.%{v}._spf.%{d2}|%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}|" +
            "%{d2}.trusted-domains.example.net|%%|%_|%-");

        var r = await Checker().CheckMailFromAsync(Client, "strong-bad@email.example.com", "mail.example.com");

        Assert.Equal(SpfResultCode.Fail, r.Code);
        Assert.Equal(string.Join('|',
            "strong-bad@email.example.com", "email.example.com", "email.example.com", "email.example.com", "email.example.com",
            "example.com", "com", "com.example.email", "example.email", "strong-bad", "strong.bad", "strong-bad", "bad.strong", "strong",
            "3.2.0.192.in-addr._spf.example.com", "bad.strong.lp._spf.example.com", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
            "3.2.0.192.in-addr.strong.lp._spf.example.com", "example.com.trusted-domains.example.net", "%", " ", "%20"), r.Explanation);
    }

    [Fact]
    public async Task Ipv6_i_macro_is_32_nibbles()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 -all exp=why.example.com");
        _server.Add("why.example.com", DnsRecordType.TXT, "%{ir}.%{v}._spf.%{d2}");

        var r = await Checker().CheckMailFromAsync(IPAddress.Parse("2001:db8::cb01"), "a@example.com", "mail.example.com");

        // RFC 7208 7.4 prints the nibbles in lower case, the RFC test suite (v-macro-ip6) in upper case; DNS ignores case.
        Assert.Equal("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", r.Explanation, ignoreCase: true);
    }

    [Fact]
    public async Task Exp_only_macros_c_r_t_and_url_escaping()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 -all exp=why.example.com");
        _server.Add("why.example.com", DnsRecordType.TXT, "%{c} %{r} %{t} %{L}");
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var r = await Checker(new SpfOptions { ReceiverName = "mx.receiver.test" }).CheckMailFromAsync(Client, "a&b=c@example.com", "h.example.com");

        var parts = r.Explanation!.Split(' ');
        Assert.Equal("192.0.2.3", parts[0]);
        Assert.Equal("mx.receiver.test", parts[1]);
        Assert.InRange(long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), before, before + 3600);
        Assert.Equal("a%26b%3Dc", parts[3]);
    }

    [Fact]
    public async Task Exp_only_macro_in_a_domain_spec_is_permerror()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 a:%{c}.example.com -all");

        var r = await Checker().CheckMailFromAsync(Client, "a@example.com", "h.example.com");

        Assert.Equal(SpfResultCode.PermError, r.Code);
        Assert.Contains("explanation", r.Problem);
    }

    [Fact]
    public async Task Default_explanation_is_expanded()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 -all");

        var r = await Checker().CheckMailFromAsync(Client, "a@example.com", "h.example.com");

        Assert.Equal("192.0.2.3 is not one of example.com's designated mail servers", r.Explanation);
        Assert.Equal("-all", r.Mechanism);
    }

    [Fact]
    public async Task Null_reverse_path_checks_postmaster_at_helo()
    {
        _server.Add("mail.example.org", DnsRecordType.TXT, "v=spf1 ip4:192.0.2.0/24 -all");

        var r = await Checker().CheckMailFromAsync(Client, "", "mail.example.org");

        Assert.Equal(SpfResultCode.Pass, r.Code);
        Assert.Equal("mail.example.org", r.Domain);
        Assert.Equal("postmaster@mail.example.org", r.Sender);
        Assert.Equal(SpfIdentity.MailFrom, r.Identity);
        Assert.Equal("ip4:192.0.2.0/24", r.Mechanism);
    }

    [Fact]
    public async Task Helo_identity_is_checked_against_the_helo_name()
    {
        _server.Add("mail.example.org", DnsRecordType.TXT, "v=spf1 a -all");
        _server.Add("mail.example.org", DnsRecordType.A, "192.0.2.3");

        var pass = await Checker().CheckHeloAsync(Client, "mail.example.org");
        var fail = await Checker().CheckHeloAsync(IPAddress.Parse("198.51.100.1"), "mail.example.org");

        Assert.Equal(SpfResultCode.Pass, pass.Code);
        Assert.Equal(SpfIdentity.Helo, pass.Identity);
        Assert.Equal("postmaster@mail.example.org", pass.Sender);
        Assert.Equal(SpfResultCode.Fail, fail.Code);
    }

    [Fact]
    public async Task Dns_failure_is_temperror_not_none()
    {
        _server.SetServFail("example.com");

        var r = await Checker().CheckMailFromAsync(Client, "a@example.com", "h.example.com");

        Assert.Equal(SpfResultCode.TempError, r.Code);
        Assert.Contains("example.com", r.Problem);
    }

    [Fact]
    public async Task No_record_is_none()
    {
        _server.Add("example.com", DnsRecordType.TXT, "google-site-verification=abc");

        var r = await Checker().CheckMailFromAsync(Client, "a@example.com", "h.example.com");

        Assert.Equal(SpfResultCode.None, r.Code);
    }

    [Fact]
    public async Task Dns_term_limit_is_configurable()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 a a a ip4:192.0.2.3 -all");
        _server.Add("example.com", DnsRecordType.A, "198.51.100.1");

        var atDefault = await Checker().CheckMailFromAsync(Client, "a@example.com", "h.example.com");
        var overTwo = await Checker(new SpfOptions { MaxDnsMechanisms = 2 }).CheckMailFromAsync(Client, "a@example.com", "h.example.com");

        Assert.Equal(SpfResultCode.Pass, atDefault.Code);
        Assert.Equal(SpfResultCode.PermError, overTwo.Code);
        Assert.Contains("more than 2 DNS-querying terms", overTwo.Problem);
    }

    [Fact]
    public async Task Void_lookup_limit_is_configurable()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 a:nowhere.example.com ip4:192.0.2.3 -all");

        var atDefault = await Checker().CheckMailFromAsync(Client, "a@example.com", "h.example.com");
        var none = await Checker(new SpfOptions { MaxVoidLookups = 0 }).CheckMailFromAsync(Client, "a@example.com", "h.example.com");

        Assert.Equal(SpfResultCode.Pass, atDefault.Code);
        Assert.Equal(SpfResultCode.PermError, none.Code);
    }

    [Fact]
    public async Task Overall_timeout_gives_temperror()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 exists:slow.example.com -all");
        _server.SetTimeout("slow.example.com");

        var r = await Checker(new SpfOptions { Timeout = TimeSpan.FromMilliseconds(300) }, dnsTimeout: TimeSpan.FromSeconds(10))
            .CheckMailFromAsync(Client, "a@example.com", "h.example.com");

        Assert.Equal(SpfResultCode.TempError, r.Code);
        Assert.Contains("longer than", r.Problem);
        Assert.Equal("exists:slow.example.com", r.Mechanism);
    }

    [Fact]
    public async Task Caller_cancellation_is_not_turned_into_a_result()
    {
        _server.Add("example.com", DnsRecordType.TXT, "v=spf1 exists:slow.example.com -all");
        _server.SetTimeout("slow.example.com");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Checker(dnsTimeout: TimeSpan.FromSeconds(10)).CheckMailFromAsync(Client, "a@example.com", "h.example.com", cts.Token));
    }

    [Fact]
    public void Bad_options_are_refused_naming_the_setting()
    {
        var dns = new DnsResolver(new DnsResolverOptions { NameServers = [_server.EndPoint] });

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SpfChecker(dns, new SpfOptions { MaxVoidLookups = -1 }));

        Assert.Contains("MaxVoidLookups", e.Message);
    }
}
