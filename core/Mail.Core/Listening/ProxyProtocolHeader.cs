using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mail.Core.Listening;

/// <summary>The PROXY protocol's command: PROXY relays a client; LOCAL is the proxy's own connection (a health check),
/// for which the receiver uses the real connection's addresses.</summary>
public enum ProxyCommand
{
    Local,
    Proxy,
}

/// <summary>What <see cref="ProxyProtocolHeader.TryParse"/> made of the bytes it was given.</summary>
public enum ProxyParseStatus
{
    /// <summary>A whole header; it took the first <c>consumed</c> bytes.</summary>
    Complete,
    /// <summary>The bytes are the start of a header that is not over yet.</summary>
    Incomplete,
    /// <summary>Not a header, or a broken one; the connection is to be closed.</summary>
    Invalid,
}

/// <summary>
/// The header a proxy (HAProxy, a load balancer) sends before the client's first byte: HAProxy's PROXY protocol,
/// version 1 (one text line, "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n", at most 107 bytes) and version 2
/// (a 12-byte signature, then version/command, family/protocol, a length and binary addresses; any TLVs after the
/// addresses are skipped). <see cref="Source"/> is the original client; null when the header says the addresses are
/// unknown (v1 UNKNOWN, v2 LOCAL or AF_UNSPEC/AF_UNIX): the receiver then uses the real connection's.
/// </summary>
public sealed record ProxyProtocolHeader(int Version, ProxyCommand Command, IPEndPoint? Source, IPEndPoint? Destination)
{
    /// <summary>The longest v1 line the spec allows, CRLF included ("PROXY TCP6" with two full IPv6 addresses).</summary>
    public const int V1MaxLength = 107;

    /// <summary>v2's fixed part: signature, version/command, family/protocol, length.</summary>
    public const int V2FixedLength = 16;

    /// <summary>The v2 signature: starts with CRLF CRLF NUL so no text protocol's first line can look like it.</summary>
    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    /// <summary>
    /// Parses a header at the start of <paramref name="data"/>. On <see cref="ProxyParseStatus.Complete"/>,
    /// <paramref name="consumed"/> is the header's length (the bytes after it belong to the client's protocol); on
    /// <see cref="ProxyParseStatus.Invalid"/>, <paramref name="error"/> says why, for the log.
    /// </summary>
    public static ProxyParseStatus TryParse(ReadOnlySpan<byte> data, out ProxyProtocolHeader? header, out int consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        if (data.IsEmpty) return ProxyParseStatus.Incomplete;
        if (data[0] == V2Signature[0]) return TryParseV2(data, out header, out consumed, out error);
        if (data[0] == V1Prefix[0]) return TryParseV1(data, out header, out consumed, out error);
        error = "not a PROXY protocol header";
        return ProxyParseStatus.Invalid;
    }

    private static ProxyParseStatus TryParseV1(ReadOnlySpan<byte> data, out ProxyProtocolHeader? header, out int consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        var prefix = Math.Min(data.Length, V1Prefix.Length);
        if (!data[..prefix].SequenceEqual(V1Prefix[..prefix]))
        {
            error = "not a PROXY protocol header";
            return ProxyParseStatus.Invalid;
        }
        var window = data[..Math.Min(data.Length, V1MaxLength)];
        var lf = window.IndexOf((byte)'\n');
        if (lf < 0)
        {
            if (data.Length >= V1MaxLength)
            {
                error = $"v1 header longer than {V1MaxLength} bytes";
                return ProxyParseStatus.Invalid;
            }
            return ProxyParseStatus.Incomplete;
        }
        if (lf == 0 || window[lf - 1] != '\r')
        {
            error = "v1 header does not end with CRLF";
            return ProxyParseStatus.Invalid;
        }
        var line = window[V1Prefix.Length..(lf - 1)];
        foreach (var b in line)
            if (b is < 0x20 or > 0x7E)
            {
                error = "v1 header holds a byte that is not printable ASCII";
                return ProxyParseStatus.Invalid;
            }
        var text = Encoding.ASCII.GetString(line);
        // UNKNOWN: the proxy does not know the addresses; the spec says to ignore anything after it up to the CRLF.
        if (text == "UNKNOWN" || text.StartsWith("UNKNOWN ", StringComparison.Ordinal))
        {
            header = new ProxyProtocolHeader(1, ProxyCommand.Proxy, null, null);
            consumed = lf + 1;
            return ProxyParseStatus.Complete;
        }
        var fields = text.Split(' ');
        if (fields.Length != 5 || fields[0] is not ("TCP4" or "TCP6"))
        {
            error = "v1 header is not 'PROXY TCP4|TCP6 source destination source-port destination-port' or 'PROXY UNKNOWN'";
            return ProxyParseStatus.Invalid;
        }
        var family = fields[0] == "TCP4" ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
        if (!TryParseV1Address(fields[1], family, out var source) || !TryParseV1Address(fields[2], family, out var destination))
        {
            error = $"v1 header has an address that is not {(family == AddressFamily.InterNetwork ? "IPv4" : "IPv6")}";
            return ProxyParseStatus.Invalid;
        }
        if (!TryParseV1Port(fields[3], out var sourcePort) || !TryParseV1Port(fields[4], out var destinationPort))
        {
            error = "v1 header has a port that is not 0-65535";
            return ProxyParseStatus.Invalid;
        }
        header = new ProxyProtocolHeader(1, ProxyCommand.Proxy, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
        consumed = lf + 1;
        return ProxyParseStatus.Complete;
    }

    private static bool TryParseV1Address(string text, AddressFamily family, out IPAddress address)
    {
        address = IPAddress.None;
        // IPAddress.TryParse takes inet_aton shorthands ("10.1" is 10.0.0.1): the spec's TCP4 is four decimal octets.
        if (family == AddressFamily.InterNetwork
            && (text.Split('.') is not { Length: 4 } octets || octets.Any(o => o.Length is 0 or > 3 || !o.All(char.IsAsciiDigit))))
            return false;
        if (family == AddressFamily.InterNetworkV6 && !text.Contains(':', StringComparison.Ordinal)) return false;
        if (!IPAddress.TryParse(text, out var parsed) || parsed.AddressFamily != family) return false;
        // A zone ("fe80::1%eth0") names an interface of the proxy's host, meaningless here. (ScopeId throws for IPv4.)
        if (family == AddressFamily.InterNetworkV6 && parsed.ScopeId != 0) return false;
        address = parsed;
        return true;
    }

    private static bool TryParseV1Port(string text, out int port)
    {
        port = 0;
        // Decimal digits only (no sign, no spaces): a proxy that writes anything else is broken.
        return text.Length is > 0 and <= 5 && text.All(char.IsAsciiDigit)
            && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) && port <= 65535;
    }

    private static ProxyParseStatus TryParseV2(ReadOnlySpan<byte> data, out ProxyProtocolHeader? header, out int consumed, out string? error)
    {
        header = null;
        consumed = 0;
        error = null;
        var signature = Math.Min(data.Length, V2Signature.Length);
        if (!data[..signature].SequenceEqual(V2Signature[..signature]))
        {
            error = "not a PROXY protocol header";
            return ProxyParseStatus.Invalid;
        }
        if (data.Length < V2FixedLength) return ProxyParseStatus.Incomplete;
        var versionCommand = data[12];
        if (versionCommand >> 4 != 2)
        {
            error = $"v2 header has version {versionCommand >> 4}, not 2";
            return ProxyParseStatus.Invalid;
        }
        if ((versionCommand & 0x0F) is not (0 or 1))
        {
            error = $"v2 header has command {versionCommand & 0x0F}, neither LOCAL (0) nor PROXY (1)";
            return ProxyParseStatus.Invalid;
        }
        var command = (versionCommand & 0x0F) == 1 ? ProxyCommand.Proxy : ProxyCommand.Local;
        var family = data[13] >> 4;
        var transport = data[13] & 0x0F;
        if (family > 3 || transport > 2)
        {
            error = $"v2 header has an unknown address family or transport (0x{data[13]:X2})";
            return ProxyParseStatus.Invalid;
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(data[14..16]);
        // The address block's size by family: AF_INET 12, AF_INET6 36, AF_UNIX 216, AF_UNSPEC none.
        var addressLength = family switch { 1 => 12, 2 => 36, 3 => 216, _ => 0 };
        if (length < addressLength)
        {
            error = $"v2 header's length {length} is shorter than its addresses ({addressLength})";
            return ProxyParseStatus.Invalid;
        }
        if (data.Length < V2FixedLength + length) return ProxyParseStatus.Incomplete;
        consumed = V2FixedLength + length;
        // LOCAL: the proxy speaks for itself and "the receiver must ignore the address information"; AF_UNSPEC and
        // AF_UNIX carry no IP address for a TCP listener to use. TLVs after the addresses are not needed here.
        if (command == ProxyCommand.Local || family is 0 or 3)
        {
            header = new ProxyProtocolHeader(2, command, null, null);
            return ProxyParseStatus.Complete;
        }
        var addresses = data.Slice(V2FixedLength, addressLength);
        var size = family == 1 ? 4 : 16;
        var source = new IPAddress(addresses[..size]);
        var destination = new IPAddress(addresses.Slice(size, size));
        var sourcePort = BinaryPrimitives.ReadUInt16BigEndian(addresses.Slice(2 * size, 2));
        var destinationPort = BinaryPrimitives.ReadUInt16BigEndian(addresses.Slice(2 * size + 2, 2));
        header = new ProxyProtocolHeader(2, command, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
        return ProxyParseStatus.Complete;
    }
}
