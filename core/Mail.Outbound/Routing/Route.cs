using System.Net;
using Mail.Core.Model;
using Mail.Outbound.Tls.MtaSts;
using Mail.Outbound.Tls.Dane;

namespace Mail.Outbound.Routing;

/// <summary>One host to try, with the addresses to connect to (IPv6 and IPv4), in order.</summary>
/// <param name="Dane">The host's DNSSEC-validated TLSA records (or their failed lookup) when the policy is
/// <see cref="TlsPolicy.Dane"/> and DNSSEC vouches for the host's name; null when DANE does not apply.</param>
public sealed record MxHost(string Name, IReadOnlyList<IPAddress> Addresses, DaneHost? Dane = null);

public enum RouteOutcome
{
    /// <summary>Connect to <see cref="Route.Hosts"/> in order.</summary>
    Deliver,
    /// <summary>Nothing can be known now (DNS failure): try again later.</summary>
    Defer,
    /// <summary>The destination can never receive this mail (null MX, mail loop, no such domain).</summary>
    Bounce,
}

/// <summary>Where the mail for one destination domain goes, or why it cannot go now or ever.</summary>
/// <param name="Relay">True when the hosts are a relay host or transport-map next hop rather than the domain's own MX.</param>
/// <param name="Failure">Our own reply for Defer and Bounce (code, enhanced code, text).</param>
/// <param name="MtaSts">The recipient domain's MTA-STS policy the SMTP client holds the hosts to (enforce or testing).</param>
public sealed record Route(RouteOutcome Outcome, IReadOnlyList<MxHost> Hosts, int Port, TlsPolicy Tls, bool Relay, RemoteReply? Failure, MtaStsApplied? MtaSts = null)
{
    public static Route Defer(string enhanced, string text) => new(RouteOutcome.Defer, [], 0, TlsPolicy.None, false, new RemoteReply(451, enhanced, text));

    public static Route Bounce(string enhanced, string text) => new(RouteOutcome.Bounce, [], 0, TlsPolicy.None, false, new RemoteReply(550, enhanced, text));
}
