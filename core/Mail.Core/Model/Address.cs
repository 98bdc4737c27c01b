using System.Globalization;

namespace Mail.Core.Model;

/// <summary>
/// An RFC 5321 mailbox split into local part and domain. Only what the server needs:
/// the domain is normalised (lower case, IDNA to A-labels, no trailing dot) so routing
/// decisions cannot be fooled by case or a trailing dot.
/// </summary>
public readonly record struct Address(string LocalPart, string Domain)
{
    public override string ToString() => $"{LocalPart}@{Domain}";

    /// <summary>
    /// Splits a forward- or reverse-path (no angle brackets) at its last '@'. Source routes
    /// ("@a,@b:user@c") are reduced to their final mailbox as RFC 5321 4.1.1.3 allows.
    /// Returns false for anything that is not local@domain.
    /// </summary>
    public static bool TryParse(string path, out Address address)
    {
        address = default;
        if (string.IsNullOrEmpty(path)) return false;
        var p = path;
        if (p[0] == '@')
        {
            var colon = p.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0) return false;
            p = p[(colon + 1)..];
        }
        var at = p.LastIndexOf('@');
        if (at <= 0 || at == p.Length - 1) return false;
        var local = p[..at];
        var domain = NormalizeDomain(p[(at + 1)..]);
        if (domain is null) return false;
        address = new Address(local, domain);
        return true;
    }

    /// <summary>Lower case, A-labels, without the trailing root dot; null when not a valid domain or address literal.</summary>
    public static string? NormalizeDomain(string domain)
    {
        if (domain.Length == 0) return null;
        if (domain[0] == '[') return domain.EndsWith(']') ? domain.ToLowerInvariant() : null;
        var d = domain.EndsWith('.') ? domain[..^1] : domain;
        if (d.Length == 0 || d.Length > 253) return null;
        // Nearly every domain is plain ASCII LDH: lower-casing is all IDNA would do, without a call into ICU at
        // every MAIL and RCPT.
        if (IsPlainAsciiDomain(d)) return d.ToLowerInvariant();
        try
        {
            d = s_idn.GetAscii(d);
        }
        catch (ArgumentException)
        {
            return null;
        }
        return d.ToLowerInvariant();
    }

    /// <summary>Letters, digits, '-' and '_' in non-empty labels of at most 63 not starting or ending with '-', none an A-label
    /// ("xn--", which IDNA must check). Anything else goes the IDNA way.</summary>
    private static bool IsPlainAsciiDomain(string d)
    {
        var labelStart = 0;
        for (var i = 0; i <= d.Length; i++)
        {
            if (i < d.Length && d[i] != '.')
            {
                var c = d[i];
                if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')) return false;
                continue;
            }
            var length = i - labelStart;
            if (length is 0 or > 63 || d[labelStart] == '-' || d[i - 1] == '-') return false;
            if (length >= 4 && d.AsSpan(labelStart, 4).Equals("xn--", StringComparison.OrdinalIgnoreCase)) return false;
            labelStart = i + 1;
        }
        return true;
    }

    private static readonly IdnMapping s_idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };
}
