using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Ports;
using Mail.Core.Listening;

namespace Mail.Spf;

/// <summary>
/// RFC 7208 check_host(): every mechanism (all, include, a, mx, ptr, ip4, ip6, exists) and modifier (redirect, exp,
/// unknown ones ignored), full macro expansion, dual CIDR lengths, and the processing limits of section 4.6.4.
/// DNS goes through <see cref="IDnsResolver"/>: a DNS failure is temperror, never pass or none.
/// </summary>
public sealed class SpfChecker
{
    private readonly IDnsResolver _dns;
    private readonly SpfOptions _options;

    public SpfChecker(IDnsResolver dns, SpfOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        _dns = dns;
        _options = options ?? new SpfOptions();
        _options.Validate();
    }

    /// <summary>
    /// Checks the MAIL FROM identity. A null or empty reverse path checks postmaster@<paramref name="helo"/> instead
    /// (RFC 7208 2.4). A sender without local-part gets "postmaster" (4.3).
    /// </summary>
    public Task<SpfResult> CheckMailFromAsync(IPAddress ip, string? mailFrom, string helo, CancellationToken cancellationToken = default)
    {
        helo ??= "";
        if (string.IsNullOrEmpty(mailFrom) || mailFrom == "<>")
            return CheckHostAsync(ip, helo, "postmaster@" + helo, helo, cancellationToken);
        var at = mailFrom.LastIndexOf('@');
        var domain = at < 0 ? mailFrom : mailFrom[(at + 1)..];
        return CheckHostAsync(ip, domain, mailFrom, helo, cancellationToken);
    }

    /// <summary>Checks the HELO identity (RFC 7208 2.3): &lt;domain&gt; is the HELO name, &lt;sender&gt; postmaster@HELO.</summary>
    public async Task<SpfResult> CheckHeloAsync(IPAddress ip, string helo, CancellationToken cancellationToken = default)
    {
        helo ??= "";
        var result = await CheckHostAsync(ip, helo, "postmaster@" + helo, helo, cancellationToken);
        return result with { Identity = SpfIdentity.Helo };
    }

    /// <summary>check_host(&lt;ip&gt;, &lt;domain&gt;, &lt;sender&gt;) of RFC 7208 section 4, with the HELO name for %{h}.</summary>
    public async Task<SpfResult> CheckHostAsync(IPAddress ip, string domain, string sender, string helo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ip);
        domain = (domain ?? "").Trim();
        sender ??= "";
        helo ??= "";
        ip = ip.Unmapped(); // RFC 7208 5: an IPv4-mapped IPv6 client is an IPv4 client

        var at = sender.LastIndexOf('@');
        var local = at <= 0 ? "postmaster" : sender[..at];
        var senderDomain = at < 0 ? domain : sender[(at + 1)..];
        var normalizedSender = local + "@" + senderDomain;

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        var eval = new Evaluation(this, ip, normalizedSender, local, senderDomain, helo, timeout.Token);
        var baseResult = new SpfResult
        {
            Code = SpfResultCode.None,
            Domain = domain,
            Sender = normalizedSender,
            Helo = helo,
            ClientIp = ip,
        };

        try
        {
            var outcome = await eval.CheckHostAsync(domain);
            return baseResult with { Code = outcome.Code, Mechanism = outcome.Mechanism, Explanation = outcome.Explanation, Problem = outcome.Problem };
        }
        catch (SpfPermErrorException e)
        {
            return baseResult with { Code = SpfResultCode.PermError, Mechanism = eval.CurrentTerm, Problem = e.Message };
        }
        catch (SpfTempErrorException e)
        {
            return baseResult with { Code = SpfResultCode.TempError, Mechanism = eval.CurrentTerm, Problem = e.Message };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return baseResult with { Code = SpfResultCode.TempError, Mechanism = eval.CurrentTerm, Problem = $"SPF evaluation took longer than {_options.Timeout.TotalSeconds:0.#} s" };
        }
    }

    private readonly record struct Outcome(SpfResultCode Code, string Mechanism, string? Explanation = null, string? Problem = null);

    /// <summary>The state of one check_host() evaluation, shared by its includes and redirects (the limits are per check).</summary>
    private sealed class Evaluation(SpfChecker owner, IPAddress ip, string sender, string local, string senderDomain, string helo, CancellationToken ct)
    {
        private readonly IDnsResolver _dns = owner._dns;
        private readonly SpfOptions _options = owner._options;
        private int _dnsTerms;
        private int _voidLookups;
        private readonly Dictionary<string, string> _validatedNameFor = new(StringComparer.OrdinalIgnoreCase);

        public string CurrentTerm { get; private set; } = "";

        private bool IsV4 => ip.AddressFamily == AddressFamily.InterNetwork;

        public async Task<Outcome> CheckHostAsync(string domain)
        {
            domain = TrimDot(domain);
            // RFC 7208 4.3: a malformed or single-label domain, or a domain literal, is "none" without any lookup.
            if (!IsValidDomain(domain))
                return new Outcome(SpfResultCode.None, "", Problem: $"'{domain}' is not a valid domain name");

            var txt = await _dns.TxtAsync(domain, ct);
            if (txt.Status == DnsStatus.Failed)
                throw new SpfTempErrorException($"DNS failure looking up TXT {domain}: {txt.Error}");
            if (txt.IsEmpty)
                return new Outcome(SpfResultCode.None, "", Problem: $"{domain}: no TXT records ({txt.Status})");
            var spf = txt.Records.Where(SpfRecord.IsSpfRecord).ToList();
            if (spf.Count == 0)
                return new Outcome(SpfResultCode.None, "", Problem: $"{domain}: no SPF record");
            if (spf.Count > 1)
                throw new SpfPermErrorException($"{domain}: {spf.Count} SPF records");

            var record = SpfRecord.ParseCached(spf[0]);
            foreach (var mechanism in record.Mechanisms)
            {
                CurrentTerm = mechanism.Text;
                if (mechanism.QueriesDns) CountDnsTerm(mechanism.Text);
                if (!await MatchesAsync(mechanism, domain)) continue;
                var explanation = mechanism.Qualifier == SpfResultCode.Fail ? await ExplainAsync(record.Exp, domain) : null;
                return new Outcome(mechanism.Qualifier, mechanism.Text, explanation);
            }

            if (record.Redirect is not null)
            {
                CurrentTerm = "redirect=" + record.Redirect.Text;
                CountDnsTerm(CurrentTerm);
                var target = await ExpandDomainAsync(record.Redirect, domain);
                var redirected = await CheckHostAsync(target);
                if (redirected.Code == SpfResultCode.None)
                    throw new SpfPermErrorException($"redirect={target}: {redirected.Problem ?? "no SPF record"}");
                return redirected;
            }
            return new Outcome(SpfResultCode.Neutral, "default");
        }

        private void CountDnsTerm(string term)
        {
            if (++_dnsTerms > _options.MaxDnsMechanisms)
                throw new SpfPermErrorException($"more than {_options.MaxDnsMechanisms} DNS-querying terms (at '{term}')");
        }

        private void CountIfVoid<T>(DnsResult<T> result, string what)
        {
            if (result.IsEmpty && ++_voidLookups > _options.MaxVoidLookups)
                throw new SpfPermErrorException($"more than {_options.MaxVoidLookups} void lookups (at {what})");
        }

        private async Task<bool> MatchesAsync(SpfMechanism m, string domain)
        {
            switch (m.Kind)
            {
                case MechanismKind.All:
                    return true;
                case MechanismKind.Ip4:
                case MechanismKind.Ip6:
                    return m.Network!.AddressFamily == ip.AddressFamily && InNetwork(ip, m.Network, IsV4 ? m.Cidr4 : m.Cidr6);
                case MechanismKind.Include:
                {
                    var target = await ExpandDomainAsync(m.DomainSpec!, domain);
                    var inner = await CheckHostAsync(target);
                    CurrentTerm = m.Text;
                    return inner.Code switch
                    {
                        SpfResultCode.Pass => true,
                        SpfResultCode.Fail or SpfResultCode.SoftFail or SpfResultCode.Neutral => false,
                        SpfResultCode.None => throw new SpfPermErrorException($"include:{target} has no SPF record"),
                        _ => throw new InvalidOperationException("unreachable: errors unwind as exceptions"),
                    };
                }
                case MechanismKind.A:
                {
                    var target = m.DomainSpec is null ? domain : await ExpandDomainAsync(m.DomainSpec, domain);
                    var addresses = await AddressesAsync(target, countVoid: true);
                    return addresses.Any(a => InNetwork(ip, a, IsV4 ? m.Cidr4 : m.Cidr6));
                }
                case MechanismKind.Mx:
                {
                    var target = m.DomainSpec is null ? domain : await ExpandDomainAsync(m.DomainSpec, domain);
                    var mx = await _dns.MxAsync(target, ct);
                    if (mx.Status == DnsStatus.Failed) throw new SpfTempErrorException($"DNS failure looking up MX {target}: {mx.Error}");
                    CountIfVoid(mx, $"mx {target}");
                    if (mx.Records.Count > _options.MaxMxNames)
                        throw new SpfPermErrorException($"{target} has {mx.Records.Count} MX names, more than {_options.MaxMxNames}");
                    foreach (var exchange in mx.Records.OrderBy(r => r.Preference).Select(r => TrimDot(r.Exchange)))
                    {
                        if (exchange.Length == 0) continue; // null MX (RFC 7505): no host to compare
                        var addresses = await AddressesAsync(exchange, countVoid: false);
                        if (addresses.Any(a => InNetwork(ip, a, IsV4 ? m.Cidr4 : m.Cidr6))) return true;
                    }
                    return false;
                }
                case MechanismKind.Ptr:
                {
                    var target = m.DomainSpec is null ? domain : await ExpandDomainAsync(m.DomainSpec, domain);
                    var names = await PtrNamesAsync(countVoid: true);
                    foreach (var name in names)
                    {
                        // Only names at or under the target can match, so only those are worth validating.
                        if (!IsAtOrUnder(name, target)) continue;
                        if (await IsValidatedAsync(name)) return true;
                    }
                    return false;
                }
                case MechanismKind.Exists:
                {
                    var target = await ExpandDomainAsync(m.DomainSpec!, domain);
                    var a = await _dns.AAsync(target, ct); // always A, even for an IPv6 client (RFC 7208 5.7)
                    if (a.Status == DnsStatus.Failed) throw new SpfTempErrorException($"DNS failure looking up A {target}: {a.Error}");
                    CountIfVoid(a, $"exists {target}");
                    return a.Status == DnsStatus.Ok;
                }
                default:
                    throw new InvalidOperationException($"unknown mechanism kind {m.Kind}");
            }
        }

        /// <summary>A or AAAA of <paramref name="name"/>, by the client's address family.</summary>
        private async Task<IReadOnlyList<IPAddress>> AddressesAsync(string name, bool countVoid)
        {
            var result = IsV4 ? await _dns.AAsync(name, ct) : await _dns.AaaaAsync(name, ct);
            if (result.Status == DnsStatus.Failed)
                throw new SpfTempErrorException($"DNS failure looking up {(IsV4 ? "A" : "AAAA")} {name}: {result.Error}");
            if (countVoid) CountIfVoid(result, $"{(IsV4 ? "A" : "AAAA")} {name}");
            return result.Records;
        }

        private async Task<IReadOnlyList<string>> PtrNamesAsync(bool countVoid)
        {
            var ptr = await _dns.PtrAsync(ip, ct);
            // RFC 7208 5.5: a DNS error on the PTR lookup means "no match", not temperror.
            if (ptr.Status == DnsStatus.Failed) return [];
            if (countVoid) CountIfVoid(ptr, $"ptr {ip}");
            return ptr.Records.Take(_options.MaxPtrNames).Select(TrimDot).ToList();
        }

        /// <summary>Forward-confirms a PTR name: its A/AAAA records include the client address. DNS errors skip the name.</summary>
        private async Task<bool> IsValidatedAsync(string name)
        {
            var result = IsV4 ? await _dns.AAsync(name, ct) : await _dns.AaaaAsync(name, ct);
            return result.Status == DnsStatus.Ok && result.Records.Any(a => a.Equals(ip));
        }

        /// <summary>%{p}: a validated PTR name of the client, preferring one at or under &lt;domain&gt;; "unknown" if none.</summary>
        private async Task<string> ValidatedNameAsync(string domain)
        {
            if (_validatedNameFor.TryGetValue(domain, out var cached)) return cached;
            string? any = null, best = null;
            foreach (var name in await PtrNamesAsync(countVoid: false))
            {
                if (!await IsValidatedAsync(name)) continue;
                if (IsAtOrUnder(name, domain))
                {
                    best = name;
                    break;
                }
                any ??= name;
            }
            return _validatedNameFor[domain] = best ?? any ?? "unknown";
        }

        private async Task<string?> ExplainAsync(MacroString? exp, string domain)
        {
            // RFC 7208 6.2: any problem with exp= (expansion, DNS, record count, syntax) falls back to the default.
            if (exp is not null)
            {
                try
                {
                    var target = await ExpandDomainAsync(exp, domain);
                    var txt = await _dns.TxtAsync(target, ct);
                    if (txt.Status == DnsStatus.Ok && txt.Records.Count == 1)
                        return await MacroString.Parse(txt.Records[0], MacroContext.Explanation).ExpandAsync(l => MacroValueAsync(l, domain));
                }
                catch (SpfPermErrorException)
                {
                }
            }
            try
            {
                return await MacroString.Parse(_options.DefaultExplanation, MacroContext.Explanation).ExpandAsync(l => MacroValueAsync(l, domain));
            }
            catch (SpfPermErrorException)
            {
                return _options.DefaultExplanation;
            }
        }

        /// <summary>Expands a domain-spec into a target name: no trailing dot, at most 253 characters (RFC 7208 7.3).</summary>
        private async Task<string> ExpandDomainAsync(MacroString spec, string domain)
        {
            var name = await spec.ExpandAsync(l => MacroValueAsync(l, domain));
            name = TrimDot(name);
            while (name.Length > 253)
            {
                var dot = name.IndexOf('.', StringComparison.Ordinal);
                if (dot < 0) break;
                name = name[(dot + 1)..];
            }
            return name;
        }

        private async Task<string> MacroValueAsync(char letter, string domain) => letter switch
        {
            's' => sender,
            'l' => local,
            'o' => senderDomain,
            'd' => domain,
            'i' => IsV4 ? ip.ToString() : Nibbles(ip),
            'p' => await ValidatedNameAsync(domain),
            'v' => IsV4 ? "in-addr" : "ip6",
            'h' => helo,
            'c' => ip.ToString(),
            'r' => _options.ReceiverName,
            't' => DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            _ => throw new SpfPermErrorException($"unknown macro letter '{letter}'"),
        };
    }

    /// <summary>%{i} of an IPv6 address: 32 dot-separated nibbles (RFC 7208 7.3), upper case as in the RFC's examples.</summary>
    private static string Nibbles(IPAddress ip)
    {
        var sb = new StringBuilder(63);
        foreach (var b in ip.GetAddressBytes())
        {
            if (sb.Length > 0) sb.Append('.');
            sb.Append("0123456789ABCDEF"[b >> 4]).Append('.').Append("0123456789ABCDEF"[b & 0xF]);
        }
        return sb.ToString();
    }

    internal static bool InNetwork(IPAddress ip, IPAddress network, int prefix)
    {
        if (ip.AddressFamily != network.AddressFamily) return false;
        var a = ip.GetAddressBytes();
        var b = network.GetAddressBytes();
        var full = prefix / 8;
        for (var i = 0; i < full; i++)
            if (a[i] != b[i]) return false;
        var rest = prefix % 8;
        if (rest == 0) return true;
        var mask = (byte)(0xFF << (8 - rest));
        return (a[full] & mask) == (b[full] & mask);
    }

    private static bool IsAtOrUnder(string name, string domain) =>
        name.Equals(domain, StringComparison.OrdinalIgnoreCase) || name.EndsWith("." + domain, StringComparison.OrdinalIgnoreCase);

    private static string TrimDot(string name) => name.EndsWith('.') ? name[..^1] : name;

    /// <summary>RFC 7208 4.3: at least two labels, each 1..63 octets, 253 in all; no domain literal.</summary>
    internal static bool IsValidDomain(string domain)
    {
        if (domain.Length is 0 or > 253 || domain.StartsWith('[')) return false;
        var labels = domain.Split('.');
        if (labels.Length < 2) return false;
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63) return false;
            foreach (var c in label)
                if (c <= ' ' || c >= 0x7F) return false;
        }
        return true;
    }
}
