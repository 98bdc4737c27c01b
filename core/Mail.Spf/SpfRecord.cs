using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Mail.Spf;

internal enum MechanismKind { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists }

/// <summary>One parsed mechanism with its qualifier (RFC 7208 section 5).</summary>
internal sealed record SpfMechanism(SpfResultCode Qualifier, MechanismKind Kind, MacroString? DomainSpec, IPAddress? Network, int Cidr4, int Cidr6, string Text)
{
    /// <summary>include, a, mx, ptr and exists cost one of the 10 DNS terms.</summary>
    public bool QueriesDns => Kind is MechanismKind.Include or MechanismKind.A or MechanismKind.Mx or MechanismKind.Ptr or MechanismKind.Exists;
}

/// <summary>A parsed "v=spf1" record: its mechanisms in order and the redirect/exp modifiers.</summary>
internal sealed partial class SpfRecord
{
    private SpfRecord(IReadOnlyList<SpfMechanism> mechanisms, MacroString? redirect, MacroString? exp)
    {
        Mechanisms = mechanisms;
        Redirect = redirect;
        Exp = exp;
    }

    public IReadOnlyList<SpfMechanism> Mechanisms { get; }
    public MacroString? Redirect { get; }
    public MacroString? Exp { get; }

    /// <summary>RFC 7208 4.5: "v=spf1" (any case) followed by a space or the end of the record.</summary>
    public static bool IsSpfRecord(string txt) =>
        txt.StartsWith("v=spf1", StringComparison.OrdinalIgnoreCase) && (txt.Length == 6 || txt[6] == ' ');

    // A receiver sees the same few SPF records all day, and the resolver hands back the same text each time: parse
    // each distinct text once. A parsed record is immutable; a syntax error is kept as its message. Bounded by clearing.
    private static readonly Mail.Core.Caching.ClearingCache<string, (SpfRecord? Record, string? Error)> s_parsed = new(4096, StringComparer.Ordinal);

    /// <summary><see cref="Parse"/>, once per distinct record text.</summary>
    public static SpfRecord ParseCached(string txt)
    {
        var (record, error) = s_parsed.GetOrAdd(txt, static (t, _) =>
        {
            try
            {
                return (Parse(t), (string?)null);
            }
            catch (SpfPermErrorException e)
            {
                return ((SpfRecord?)null, e.Message);
            }
        }, 0);
        return record ?? throw new SpfPermErrorException(error!);
    }

    /// <summary>Parses the whole record; any syntax error anywhere is a <see cref="SpfPermErrorException"/> (RFC 7208 4.6).</summary>
    public static SpfRecord Parse(string txt)
    {
        if (!IsSpfRecord(txt)) throw new SpfPermErrorException("not an SPF record");
        var mechanisms = new List<SpfMechanism>();
        MacroString? redirect = null, exp = null;
        // Terms are separated by one or more SP, and only SP (RFC 7208 4.6.1); other whitespace is a syntax error.
        foreach (var term in txt[6..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var modifier = ModifierRegex().Match(term);
            if (modifier.Success)
            {
                var name = modifier.Groups["name"].Value;
                var value = modifier.Groups["value"].Value;
                if (name.Equals("redirect", StringComparison.OrdinalIgnoreCase))
                {
                    if (redirect is not null) throw new SpfPermErrorException("redirect= appears twice");
                    redirect = ParseDomainSpec(value, term);
                }
                else if (name.Equals("exp", StringComparison.OrdinalIgnoreCase))
                {
                    if (exp is not null) throw new SpfPermErrorException("exp= appears twice");
                    exp = ParseDomainSpec(value, term);
                }
                else
                {
                    // Unknown modifiers are ignored, but their value must still be a valid macro-string.
                    MacroString.Parse(value, MacroContext.UnknownModifier);
                }
                continue;
            }
            mechanisms.Add(ParseMechanism(term));
        }
        return new SpfRecord(mechanisms, redirect, exp);
    }

    private static SpfMechanism ParseMechanism(string term)
    {
        var qualifier = SpfResultCode.Pass;
        var body = term;
        switch (term[0])
        {
            case '+': qualifier = SpfResultCode.Pass; body = term[1..]; break;
            case '-': qualifier = SpfResultCode.Fail; body = term[1..]; break;
            case '~': qualifier = SpfResultCode.SoftFail; body = term[1..]; break;
            case '?': qualifier = SpfResultCode.Neutral; body = term[1..]; break;
        }
        var nameEnd = body.IndexOfAny([':', '/']);
        var name = (nameEnd < 0 ? body : body[..nameEnd]).ToLowerInvariant();
        var rest = nameEnd < 0 ? "" : body[nameEnd..];
        switch (name)
        {
            case "all":
                if (rest.Length > 0) throw new SpfPermErrorException($"'all' takes no argument: '{term}'");
                return new SpfMechanism(qualifier, MechanismKind.All, null, null, 32, 128, term);
            case "include":
            case "exists":
                if (!rest.StartsWith(':')) throw new SpfPermErrorException($"'{name}' needs ':domain': '{term}'");
                return new SpfMechanism(qualifier, name == "include" ? MechanismKind.Include : MechanismKind.Exists,
                    ParseDomainSpec(rest[1..], term), null, 32, 128, term);
            case "ptr":
                if (rest.Length == 0) return new SpfMechanism(qualifier, MechanismKind.Ptr, null, null, 32, 128, term);
                if (!rest.StartsWith(':')) throw new SpfPermErrorException($"'ptr' takes no CIDR length: '{term}'");
                return new SpfMechanism(qualifier, MechanismKind.Ptr, ParseDomainSpec(rest[1..], term), null, 32, 128, term);
            case "a":
            case "mx":
            {
                var m = DualCidrRegex().Match(rest);
                if (!m.Success) throw new SpfPermErrorException($"bad syntax: '{term}'");
                var spec = m.Groups["spec"].Success ? ParseDomainSpec(m.Groups["spec"].Value, term) : null;
                var cidr4 = m.Groups["c4"].Success ? Cidr(m.Groups["c4"].Value, 32, term) : 32;
                var cidr6 = m.Groups["c6"].Success ? Cidr(m.Groups["c6"].Value, 128, term) : 128;
                return new SpfMechanism(qualifier, name == "a" ? MechanismKind.A : MechanismKind.Mx, spec, null, cidr4, cidr6, term);
            }
            case "ip4":
            {
                var m = Ip4Regex().Match(rest);
                if (!m.Success) throw new SpfPermErrorException($"bad ip4 network: '{term}'");
                var cidr = m.Groups["c"].Success ? Cidr(m.Groups["c"].Value, 32, term) : 32;
                return new SpfMechanism(qualifier, MechanismKind.Ip4, null, IPAddress.Parse(m.Groups["ip"].Value), cidr, 128, term);
            }
            case "ip6":
            {
                var m = Ip6Regex().Match(rest);
                if (!m.Success || !IPAddress.TryParse(m.Groups["ip"].Value, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
                    throw new SpfPermErrorException($"bad ip6 network: '{term}'");
                var cidr = m.Groups["c"].Success ? Cidr(m.Groups["c"].Value, 128, term) : 128;
                return new SpfMechanism(qualifier, MechanismKind.Ip6, null, ip, 32, cidr, term);
            }
            default:
                throw new SpfPermErrorException($"unknown mechanism '{name}' in '{term}'");
        }
    }

    private static int Cidr(string digits, int max, string term)
    {
        // No leading zeros (as for ip4-network octets), and within the family's width.
        if (digits.Length > 1 && digits[0] == '0') throw new SpfPermErrorException($"CIDR length with a leading zero: '{term}'");
        if (digits.Length > 3 || int.Parse(digits, CultureInfo.InvariantCulture) > max)
            throw new SpfPermErrorException($"CIDR length over {max}: '{term}'");
        return int.Parse(digits, CultureInfo.InvariantCulture);
    }

    /// <summary>domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand.</summary>
    internal static MacroString ParseDomainSpec(string value, string term)
    {
        if (value.Length == 0) throw new SpfPermErrorException($"empty domain-spec: '{term}'");
        var spec = MacroString.Parse(value, MacroContext.DomainSpec);
        if (spec.EndsWithMacro) return spec;
        var body = value.EndsWith('.') ? value[..^1] : value;
        var dot = body.LastIndexOf('.');
        if (dot < 0) throw new SpfPermErrorException($"domain-spec must end in '.toplabel' or a macro: '{term}'");
        if (!TopLabelRegex().IsMatch(body[(dot + 1)..]))
            throw new SpfPermErrorException($"invalid top label in domain-spec: '{term}'");
        return spec;
    }

    [GeneratedRegex(@"^(?<name>[A-Za-z][A-Za-z0-9\-_.]*)=(?<value>.*)\z", RegexOptions.CultureInvariant)]
    private static partial Regex ModifierRegex();

    // [":" domain-spec] [ip4-cidr-length] ["/" ip6-cidr-length]; the domain-spec may itself contain "/" and ":".
    [GeneratedRegex(@"^(?::(?<spec>.+?))?(?:/(?<c4>[0-9]+))?(?://(?<c6>[0-9]+))?\z", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex DualCidrRegex();

    [GeneratedRegex(@"^:(?<ip>(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))(?:/(?<c>[0-9]+))?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Ip4Regex();

    [GeneratedRegex(@"^:(?<ip>[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(?:/(?<c>[0-9]+))?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Ip6Regex();

    // toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
    [GeneratedRegex(@"^(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])\z", RegexOptions.CultureInvariant)]
    private static partial Regex TopLabelRegex();
}
