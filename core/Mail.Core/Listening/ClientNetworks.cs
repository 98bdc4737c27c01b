using System.Net;
using System.Net.Sockets;
using Mail.Core.Model;

namespace Mail.Core.Listening;

/// <summary>A list of client networks (Postfix mynetworks, the PROXY protocol's trusted proxies): CIDRs or single
/// addresses, IPv4-mapped clients seen as IPv4. In Mail.Core so the SMTP and IMAP edges parse them alike.</summary>
public sealed class ClientNetworks
{
    private readonly IPNetwork[] _networks;

    public ClientNetworks(IEnumerable<string>? entries)
    {
        var list = new List<IPNetwork>();
        foreach (var e in entries ?? [])
            if (TryParse(e, out var n)) list.Add(n);
        _networks = [.. list];
    }

    public bool IsEmpty => _networks.Length == 0;

    public bool Contains(IPAddress address)
    {
        address = address.Unmapped();
        foreach (var n in _networks)
            if (n.Contains(address)) return true;
        return false;
    }

    /// <summary>"192.0.2.0/24", "2001:db8::/32" or a single address. Host bits after the prefix are ignored
    /// ("127.0.0.1/8" means 127.0.0.0/8), as Postfix does.</summary>
    public static bool TryParse(string? text, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (addressText.StartsWith('[') && addressText.EndsWith(']')) addressText = addressText[1..^1];
        // IPAddress.TryParse also takes inet_aton shorthands ("10.0.0" = 10.0.0.0, "10" = 0.0.0.10): a typo there
        // would silently trust the wrong network, so IPv4 must be written as four decimal octets.
        if (!addressText.Contains(':', StringComparison.Ordinal)
            && (addressText.Split('.') is not { Length: 4 } octets || octets.Any(o => o.Length is 0 or > 3 || !o.All(char.IsAsciiDigit))))
            return false;
        if (!IPAddress.TryParse(addressText, out var address)) return false;
        address = address.Unmapped();
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = max;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > max))
            return false;
        network = new IPNetwork(NetworkPrefix.Mask(address, prefix), prefix);
        return true;
    }
}
