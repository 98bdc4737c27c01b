using System.Net;
using System.Net.Sockets;
using Mail.Core.Ports;
using Mail.Outbound.Tls.MtaSts;
using Mail.Outbound.Tls.Dane;

namespace Mail.Outbound.Routing;

/// <summary>
/// Finds the next hop for a recipient domain, in Postfix's order: the transport map (Outbound:Transports), then the
/// relay host (Outbound:RelayHost), then the domain's MX records (RFC 5321 5.1): preference order, random order among
/// equal preferences, the domain's own A/AAAA as an implicit MX when it has none, an RFC 7505 null MX refused with
/// 5.1.10. A DNS failure defers, never bounces. An MX that is this host (its name, or an address and port we listen on)
/// is a mail loop (5.4.6). MTA-STS (<see cref="MtaStsPolicies"/>) applies to MX routes only, never to a relay host or
/// transport-map next hop (their names are ours, not the recipient domain's). With <see cref="TlsPolicy.Dane"/>, each
/// MX host whose name and addresses DNSSEC validated gets its TLSA records (RFC 7672 2.2) in <see cref="MxHost.Dane"/>.
/// </summary>
public sealed class Router(IDnsResolver dns, OutboundOptions options, string myHostName, Func<IPEndPoint, bool>? isOwnEndpoint = null, MtaStsPolicies? mtaSts = null)
{
    private readonly NextHop? _relay = string.IsNullOrWhiteSpace(options.RelayHost) ? null : NextHop.Parse(options.RelayHost, 25, "Outbound:RelayHost");

    public async Task<Route> RouteAsync(string domain, CancellationToken cancellationToken)
    {
        if (options.Transports.TryGetValue(domain, out var transport))
            return await HopAsync(NextHop.Parse(transport, options.RemotePort, $"Outbound:Transports:{domain}"), WithoutMtaSts(options.TlsPolicyFor(domain)), cancellationToken);
        if (_relay is not null)
            return await HopAsync(_relay, TlsPolicy.Encrypt, cancellationToken);
        var tls = options.TlsPolicyFor(domain);
        var route = await MxAsync(domain, new NextHop(domain, options.RemotePort, true), tls, relay: false, cancellationToken);
        if (tls is TlsPolicy.MtaSts or TlsPolicy.Dane)
        {
            // RFC 8461 2: where the MX hosts have DNSSEC-validated TLSA records, DANE is used, not MTA-STS
            // (SmtpDelivery.Effective decides per host; a host without them is plain opportunistic TLS).
            if (tls == TlsPolicy.Dane && route.Hosts.Any(h => h.Dane is not null)) return route;
            return mtaSts is null ? route with { Tls = TlsPolicy.May } : await mtaSts.ApplyAsync(domain, route, cancellationToken);
        }
        return route;
    }

    /// <summary>A transport-map hop is not the recipient domain's MX: MTA-STS (and DANE) do not apply, STARTTLS stays opportunistic.</summary>
    private static TlsPolicy WithoutMtaSts(TlsPolicy tls) => tls is TlsPolicy.MtaSts or TlsPolicy.Dane ? TlsPolicy.May : tls;

    private Task<Route> HopAsync(NextHop hop, TlsPolicy tls, CancellationToken cancellationToken) =>
        hop.LookupMx
            ? MxAsync(hop.Host, hop, tls, relay: true, cancellationToken)
            : HostsAsync([hop.Host], hop.Host, hop.Port, tls, relay: true, securedNames: false, cancellationToken);

    private async Task<Route> MxAsync(string domain, NextHop hop, TlsPolicy tls, bool relay, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(domain, out _)) return await HostsAsync([domain], domain, hop.Port, tls, relay, securedNames: false, cancellationToken);
        var mx = await dns.MxAsync(domain, cancellationToken);
        switch (mx.Status)
        {
            case DnsStatus.Failed:
                return Route.Defer("4.4.3", $"Host or domain name lookup failed: MX for {domain}: {mx.Error ?? "no answer"}");
            case DnsStatus.NxDomain:
                return Route.Bounce("5.4.4", $"Host or domain name not found. Name service error for name={domain} type=MX: Host not found");
            case DnsStatus.NoData:
                // RFC 5321 5.1: no MX, so the domain itself is the implicit MX (a name DNS did not give us: RFC 7672 2.2.1).
                return await HostsAsync([domain], domain, hop.Port, tls, relay, securedNames: true, cancellationToken);
        }
        var records = mx.Records;
        if (records.Count == 1 && records[0].Exchange is "" or ".")
            return Route.Bounce("5.1.10", $"Recipient address rejected: {domain} does not accept mail (null MX, RFC 7505)");
        var ordered = records.Where(r => r.Exchange is not ("" or "."))
            .GroupBy(r => r.Preference).OrderBy(g => g.Key)
            .SelectMany(g => g.OrderBy(_ => Random.Shared.Next()))
            .Select(r => r.Exchange)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Take(options.MaxMxHosts)
            .ToList();
        // RFC 7672 2.2.1: only MX host names from a DNSSEC-validated answer may lead to TLSA records.
        return await HostsAsync(ordered, domain, hop.Port, tls, relay, securedNames: mx.Authenticated, cancellationToken);
    }

    private async Task<Route> HostsAsync(IReadOnlyList<string> names, string domain, int port, TlsPolicy tls, bool relay, bool securedNames, CancellationToken cancellationToken)
    {
        var hosts = new List<MxHost>();
        string? failure = null;
        foreach (var name in names)
        {
            if (string.Equals(name, myHostName, StringComparison.OrdinalIgnoreCase) && !relay)
                return Route.Bounce("5.4.6", $"mail for {name} loops back to myself");
            var addresses = await AddressesAsync(name, cancellationToken);
            if (addresses.Error is { } error)
            {
                failure ??= error;
                continue;
            }
            foreach (var a in addresses.List)
                if (isOwnEndpoint?.Invoke(new IPEndPoint(a, port)) == true)
                    return Route.Bounce("5.4.6", $"mail for {name} loops back to myself ({a}:{port})");
            if (addresses.List.Count == 0) continue;
            var dane = tls == TlsPolicy.Dane && !relay && securedNames && addresses.Secure ? await DaneAsync(name, addresses.Expanded, domain, port, cancellationToken) : null;
            hosts.Add(new MxHost(name, addresses.List, dane));
        }
        if (hosts.Count > 0) return new Route(RouteOutcome.Deliver, hosts, port, tls, relay, null);
        if (failure is not null) return Route.Defer("4.4.3", failure);
        return Route.Bounce("5.4.4", $"Host or domain name not found: no address for {string.Join(", ", names)}");
    }

    /// <summary>
    /// The TLSA records of an MX host whose name and addresses DNSSEC vouches for (RFC 7672 2.2.2). Validated records:
    /// DANE applies. A failed lookup: the host is not tried (its zone is signed, so a missing answer may be an attack).
    /// Unvalidated records or none: null, DANE does not apply. When the host name is an alias whose (validated) CNAME
    /// expansion gave the addresses, the expanded name's TLSA records are looked up first and, when validated, used with
    /// that name as the TLSA base domain; only when it has none (or none validated) does the MX host name's own TLSA count.
    /// </summary>
    private async Task<DaneHost?> DaneAsync(string name, string? expanded, string domain, int port, CancellationToken cancellationToken)
    {
        if (expanded is not null && !string.Equals(expanded, name, StringComparison.OrdinalIgnoreCase))
        {
            var first = await dns.TlsaAsync(expanded, port, cancellationToken);
            // RFC 7672 3.2.2: the expanded name is then a reference identifier, the MX host name and the domain as well.
            string[] referenceNames = [.. new[] { expanded, name, domain }.Distinct(StringComparer.OrdinalIgnoreCase)];
            switch (first.Status)
            {
                case DnsStatus.Failed:
                    return new DaneHost([], referenceNames, $"TLSA lookup of _{port}._tcp.{expanded} (the CNAME expansion of {name}) failed: {first.Error ?? "no answer"}");
                case DnsStatus.Ok when first.Authenticated:
                    return new DaneHost(first.Records, referenceNames);
            }
        }
        var tlsa = await dns.TlsaAsync(name, port, cancellationToken);
        string[] names = string.Equals(name, domain, StringComparison.OrdinalIgnoreCase) ? [name] : [name, domain];
        return tlsa.Status switch
        {
            DnsStatus.Failed => new DaneHost([], names, $"TLSA lookup of _{port}._tcp.{name} failed: {tlsa.Error ?? "no answer"}"),
            DnsStatus.Ok when tlsa.Authenticated => new DaneHost(tlsa.Records, names),
            _ => null,
        };
    }

    /// <summary>AAAA and A of one host, IPv6 first, at most MaxAddressesPerHost; an error when DNS failed for both and gave nothing.
    /// Secure: every answer that gave an address was DNSSEC-validated (CNAME hops included). Expanded: the name at the end
    /// of the host name's CNAME chain, when it is an alias.</summary>
    private async Task<(IReadOnlyList<IPAddress> List, string? Error, bool Secure, string? Expanded)> AddressesAsync(string name, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(name, out var literal)) return ([literal], null, false, null);
        var v6 = dns.AaaaAsync(name, cancellationToken);
        var v4 = dns.AAsync(name, cancellationToken);
        var (six, four) = (await v6, await v4);
        var list = Interleave(six.Records.Where(a => a.AddressFamily == AddressFamily.InterNetworkV6).ToList(), four.Records)
            .Distinct().Take(options.MaxAddressesPerHost).ToList();
        if (list.Count == 0 && (six.Status == DnsStatus.Failed || four.Status == DnsStatus.Failed))
            return ([], $"Host or domain name lookup failed: address of {name}: {six.Error ?? four.Error}", false, null);
        var secure = (six.Records.Count == 0 || six.Authenticated) && (four.Records.Count == 0 || four.Authenticated);
        return (list, null, secure, six.Records.Count > 0 ? six.CanonicalName : four.CanonicalName);
    }

    /// <summary>IPv6, IPv4, IPv6, ...: with two addresses per host both families get a chance.</summary>
    private static IEnumerable<IPAddress> Interleave(IReadOnlyList<IPAddress> six, IReadOnlyList<IPAddress> four)
    {
        for (var i = 0; i < Math.Max(six.Count, four.Count); i++)
        {
            if (i < six.Count) yield return six[i];
            if (i < four.Count) yield return four[i];
        }
    }
}
