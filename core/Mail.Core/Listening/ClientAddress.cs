using System.Net;

namespace Mail.Core.Listening;

/// <summary>
/// An IPv4 client as IPv4, whatever socket it came through. A dual-stack listener ([::]) sees IPv4 clients as
/// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), and a PROXY header may name one so; every check keyed or queried by
/// the client's address (rate limits, FCrDNS, DNSBLs, access tables, MyNetworks, greylisting, SPF, the logs) must see
/// the address RFC 5321 and DNS know, 127.0.0.1 and not ::ffff:127.0.0.1. The listener applies this once, where a
/// connection's remote address enters the system; the checks that also take addresses from elsewhere (SPF's
/// check_host, DNS reverse names, tables) apply the same helper at their own entry.
/// </summary>
public static class ClientAddress
{
    /// <summary><paramref name="address"/> itself, or the IPv4 address it maps.</summary>
    public static IPAddress Unmapped(this IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary><paramref name="endpoint"/> itself, or the IPv4 endpoint (same port) its address maps.</summary>
    public static IPEndPoint Unmapped(this IPEndPoint endpoint) =>
        endpoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endpoint.Address.MapToIPv4(), endpoint.Port) : endpoint;
}
