using System.Globalization;
using System.Net;

namespace Mail.Defences.DnsChecks;

/// <summary>
/// One DNS list as Postfix writes it: <c>zone</c>, <c>zone=d.d.d.d</c> (each octet a number, <c>[n..m]</c> range or
/// <c>[a;b;c]</c> list, e.g. <c>127.0.0.[2..11]</c>), <c>zone&amp;d.d.d.d</c> (bit mask: listed when reply AND mask is
/// non-zero), optionally followed by <c>*weight</c> for postscreen_dnsbl_sites scoring (may be negative, for allow lists).
/// Without a pattern, any reply in 127.0.0.0/8 counts (RFC 5782 2.1; other replies are list errors).
/// </summary>
public sealed class DnsblSite
{
    private readonly OctetSet[]? _pattern;
    private readonly byte[]? _mask;

    private DnsblSite(string zone, OctetSet[]? pattern, byte[]? mask, int weight, string text)
    {
        Zone = zone;
        _pattern = pattern;
        _mask = mask;
        Weight = weight;
        Text = text;
    }

    public string Zone { get; }

    public int Weight { get; }

    /// <summary>As written.</summary>
    public string Text { get; }

    public override string ToString() => Text;

    public static DnsblSite Parse(string text)
    {
        var s = text.Trim();
        var weight = 1;
        var star = s.LastIndexOf('*');
        if (star >= 0)
        {
            if (!int.TryParse(s[(star + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out weight))
                throw new FormatException($"DNS list '{text}': weight after '*' must be an integer");
            s = s[..star];
        }
        OctetSet[]? pattern = null;
        byte[]? mask = null;
        var eq = s.IndexOf('=', StringComparison.Ordinal);
        var amp = s.IndexOf('&', StringComparison.Ordinal);
        string zone;
        if (eq >= 0)
        {
            zone = s[..eq];
            pattern = ParsePattern(s[(eq + 1)..], text);
        }
        else if (amp >= 0)
        {
            zone = s[..amp];
            if (!IPAddress.TryParse(s[(amp + 1)..], out var m) || m.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
                throw new FormatException($"DNS list '{text}': mask after '&' must be d.d.d.d");
            mask = m.GetAddressBytes();
        }
        else zone = s;
        zone = zone.Trim().TrimEnd('.').ToLowerInvariant();
        if (zone.Length == 0 || zone.Contains(' ', StringComparison.Ordinal) || !zone.Contains('.', StringComparison.Ordinal))
            throw new FormatException($"DNS list '{text}': '{zone}' is not a DNS zone");
        return new DnsblSite(zone, pattern, mask, weight, text.Trim());
    }

    /// <summary>Whether an A record returned by the list means "listed" for this site's pattern.</summary>
    public bool Matches(IPAddress reply)
    {
        if (reply.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) return false;
        var b = reply.GetAddressBytes();
        if (_pattern is not null) return _pattern.Select((o, i) => o.Contains(b[i])).All(x => x);
        if (_mask is not null) return b.Select((x, i) => x & _mask[i]).Any(x => x != 0) && b[0] == 127;
        return b[0] == 127;
    }

    private static OctetSet[] ParsePattern(string p, string text)
    {
        var octets = new List<OctetSet>();
        var i = 0;
        while (i < p.Length)
        {
            if (p[i] == '[')
            {
                var close = p.IndexOf(']', i);
                if (close < 0) throw new FormatException($"DNS list '{text}': missing ']'");
                octets.Add(OctetSet.Parse(p[(i + 1)..close], text));
                i = close + 1;
            }
            else
            {
                var dot = p.IndexOf('.', i);
                var end = dot < 0 ? p.Length : dot;
                octets.Add(OctetSet.Parse(p[i..end], text));
                i = end;
            }
            if (i < p.Length)
            {
                if (p[i] != '.') throw new FormatException($"DNS list '{text}': expected '.' in reply pattern");
                i++;
                if (i == p.Length) throw new FormatException($"DNS list '{text}': reply pattern ends with '.'");
            }
        }
        if (octets.Count != 4) throw new FormatException($"DNS list '{text}': reply pattern needs 4 octets");
        return [.. octets];
    }

    private sealed class OctetSet(List<(int Lo, int Hi)> ranges)
    {
        public bool Contains(byte b) => ranges.Any(r => b >= r.Lo && b <= r.Hi);

        public static OctetSet Parse(string s, string text)
        {
            var ranges = new List<(int, int)>();
            foreach (var part in s.Split(';'))
            {
                var dd = part.IndexOf("..", StringComparison.Ordinal);
                var (lo, hi) = dd >= 0 ? (Octet(part[..dd], text), Octet(part[(dd + 2)..], text)) : (Octet(part, text), Octet(part, text));
                if (lo > hi) throw new FormatException($"DNS list '{text}': empty range {part}");
                ranges.Add((lo, hi));
            }
            return new OctetSet(ranges);
        }

        private static int Octet(string s, string text) =>
            int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v <= 255
                ? v
                : throw new FormatException($"DNS list '{text}': '{s}' is not an octet 0..255");
    }
}
