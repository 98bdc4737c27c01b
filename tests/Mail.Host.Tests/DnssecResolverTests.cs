using Mail.Core.Ports;
using Mail.Dns;
using Mail.Testing.Dns;

namespace Mail.Host.Tests;

/// <summary>
/// <see cref="DnsResult{T}.Authenticated"/> and TLSA lookups of Mail.Dns against a real validating resolver (unbound)
/// in front of a real signing authoritative server (knotd): AD comes from validation only.
/// </summary>
public sealed class DnssecResolverTests : IAsyncLifetime
{
    private ValidatingResolver? _dns;

    private static readonly byte[] Digest = Convert.FromHexString("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");

    public async Task InitializeAsync()
    {
        if (ValidatingResolver.Missing is not null) return;
        _dns = await ValidatingResolver.StartAsync(
            new TestZone("secure.test", ZoneSecurity.Signed,
                "@ MX 10 mx", "mx A 127.0.0.1", "_25._tcp.mx TLSA 3 1 1 " + Convert.ToHexString(Digest),
                "alias CNAME mx", "outside CNAME mx.insecure.test.", "broken CNAME mx.bogus.test."),
            new TestZone("insecure.test", ZoneSecurity.Unsigned, "@ MX 10 mx", "mx A 127.0.0.1", "_25._tcp.mx TLSA 3 1 1 " + Convert.ToHexString(Digest)),
            new TestZone("bogus.test", ZoneSecurity.Bogus, "@ MX 10 mx", "mx A 127.0.0.1"));
    }

    public async Task DisposeAsync()
    {
        if (_dns is not null) await _dns.DisposeAsync();
    }

    private IDnsResolver Resolver => _dns!.Resolver();

    [DnssecFact]
    public async Task A_signed_zone_gives_authenticated_mx_address_and_tlsa_answers()
    {
        var mx = await Resolver.MxAsync("secure.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.True(mx.Authenticated, _dns!.Log);
        Assert.Equal("mx.secure.test", Assert.Single(mx.Records).Exchange);
        Assert.True((await Resolver.AAsync("mx.secure.test")).Authenticated);

        var tlsa = await Resolver.TlsaAsync("mx.secure.test", 25);
        Assert.True(tlsa.Authenticated);
        var record = Assert.Single(tlsa.Records);
        Assert.Equal((TlsaUsage.DaneEe, TlsaSelector.Spki, TlsaMatchingType.Sha2_256), (record.Usage, record.Selector, record.MatchingType));
        Assert.Equal(Digest, record.Data);
    }

    [DnssecFact]
    public async Task A_secure_denial_is_authenticated_no_data()
    {
        var none = await Resolver.TlsaAsync("mx.secure.test", 2525);
        Assert.Equal(DnsStatus.NxDomain, none.Status);
        Assert.True(none.Authenticated);
        var noData = await Resolver.MxAsync("mx.secure.test");
        Assert.Equal(DnsStatus.NoData, noData.Status);
        Assert.True(noData.Authenticated);
    }

    [DnssecFact]
    public async Task An_unsigned_zone_answers_without_authentication()
    {
        var mx = await Resolver.MxAsync("insecure.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.False(mx.Authenticated);
        var tlsa = await Resolver.TlsaAsync("mx.insecure.test", 25);
        Assert.Single(tlsa.Records);
        Assert.False(tlsa.Authenticated);
    }

    [DnssecFact]
    public async Task A_cname_chain_is_authenticated_only_when_every_hop_is()
    {
        var inside = await Resolver.AAsync("alias.secure.test");
        Assert.Equal(DnsStatus.Ok, inside.Status);
        Assert.True(inside.Authenticated);
        var outside = await Resolver.AAsync("outside.secure.test");
        Assert.Equal(DnsStatus.Ok, outside.Status);
        Assert.False(outside.Authenticated);
    }

    [DnssecFact]
    public async Task A_bogus_zone_fails_and_is_never_an_answer()
    {
        Assert.Equal(DnsStatus.Failed, (await Resolver.MxAsync("bogus.test")).Status);
        Assert.Equal(DnsStatus.Failed, (await Resolver.AAsync("broken.secure.test")).Status);
    }

    [DnssecFact]
    public async Task The_authoritative_server_itself_sets_no_ad_bit_so_nothing_is_authenticated_without_a_validator()
    {
        var direct = new DnsResolver(new DnsResolverOptions { NameServers = [_dns!.Authoritative], UseCache = false });
        var mx = await direct.MxAsync("secure.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.False(mx.Authenticated);
    }

    [DnssecFact]
    public async Task The_cache_keeps_the_authentication_of_an_answer()
    {
        var cached = _dns!.Resolver(cache: true);
        Assert.True((await cached.MxAsync("secure.test")).Authenticated);
        Assert.True((await cached.MxAsync("secure.test")).Authenticated);
        Assert.False((await cached.MxAsync("insecure.test")).Authenticated);
        Assert.False((await cached.MxAsync("insecure.test")).Authenticated);
    }
}
