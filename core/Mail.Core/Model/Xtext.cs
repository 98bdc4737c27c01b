using System.Globalization;
using System.Text;

namespace Mail.Core.Model;

/// <summary>
/// RFC 3461 section 4 xtext: printable ASCII except '+' and '=', with "+XX" (upper-case hex) for anything else. One codec
/// for the SMTP server (ENVID, AUTH=, ORCPT read) and the outbound client (ENVID, ORCPT written).
/// </summary>
public static class Xtext
{
    // Throws on octets that are not UTF-8 (an xtext value that decodes to them is refused); one instance, it keeps no state.
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static bool TryDecode(string text, out string decoded)
    {
        decoded = "";
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+')
            {
                if (i + 2 >= text.Length || !IsUpperHex(text[i + 1]) || !IsUpperHex(text[i + 2])) return false;
                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c is >= '!' and <= '~' && c != '=') bytes.Add((byte)c);
            else return false;
        }
        try
        {
            decoded = StrictUtf8.GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        return true;
    }

    /// <summary>Each octet of the UTF-8 form that is not printable ASCII, and '+' and '=', as "+XX".</summary>
    public static string Encode(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (b is >= (byte)'!' and <= (byte)'~' && b != '+' && b != '=') sb.Append((char)b);
            else sb.Append('+').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private static bool IsUpperHex(char c) => c is >= '0' and <= '9' or >= 'A' and <= 'F';
}

/// <summary>
/// RFC 6533 section 3, the "utf-8" address type of ORCPT and Original-Recipient: utf-8-addr-xtext (ASCII only: every
/// code point that is not a QCHAR as "\x{HEXPOINT}") when SMTPUTF8 is not in use, utf-8-addr-unitext (UTF-8 as it is,
/// only '+', '=', '\' and controls escaped) when it is.
/// </summary>
public static class Utf8AddressText
{
    public static string Encode(string address, bool unicode)
    {
        var sb = new StringBuilder(address.Length);
        foreach (var rune in address.EnumerateRunes())
        {
            var v = rune.Value;
            // QCHAR: printable ASCII except "+", "=" and "\"; QUCHAR adds any non-ASCII code point.
            var plain = v is >= 0x21 and <= 0x7E && v != '+' && v != '=' && v != '\\' || v > 0x7F && unicode;
            if (plain) sb.Append(rune.ToString());
            else sb.Append("\\x{").Append(v.ToString("X2", CultureInfo.InvariantCulture)).Append('}');
        }
        return sb.ToString();
    }

    /// <summary>Reads either form ("\x{HEX}" escapes; UTF-8 as it is).</summary>
    public static bool TryDecode(string text, out string decoded)
    {
        decoded = "";
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\')
            {
                var close = text.IndexOf('}', i);
                if (close < 0 || i + 3 >= text.Length || text[i + 1] != 'x' || text[i + 2] != '{' || close - i - 3 is < 1 or > 6
                    || !int.TryParse(text.AsSpan(i + 3, close - i - 3), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)
                    || !Rune.IsValid(v)) return false;
                sb.Append(new Rune(v).ToString());
                i = close;
            }
            else if (c is '+' or '=' || c <= ' ' || c == 0x7F) return false;
            else sb.Append(c);
        }
        decoded = sb.ToString();
        return true;
    }
}

/// <summary>
/// The RFC 3461 ORCPT value (addr-type ";" address), kept in the envelope decoded (<see cref="Recipient.ORcpt"/>) and
/// encoded here for the wire: xtext for rfc822 and any other type, RFC 6533 for utf-8. Read by the SMTP server, written
/// by the outbound client.
/// </summary>
public static class OriginalRecipient
{
    /// <summary>Reads "type;encoded" from a RCPT TO parameter into "type;address".</summary>
    public static bool TryParse(string value, out string orcpt)
    {
        orcpt = "";
        var semi = value.IndexOf(';', StringComparison.Ordinal);
        if (semi <= 0 || value.Length > 500 || !value.AsSpan(0, semi).ToString().All(c => char.IsAsciiLetterOrDigit(c) || c == '-')) return false;
        var type = value[..semi];
        var encoded = value[(semi + 1)..];
        string address;
        var ok = IsUtf8(type) ? Utf8AddressText.TryDecode(encoded, out address) : Xtext.TryDecode(encoded, out address);
        if (!ok || address.Length == 0) return false;
        orcpt = $"{type};{address}";
        return true;
    }

    /// <summary>"type;encoded" for a RCPT TO parameter; <paramref name="smtpUtf8"/>: the transaction uses SMTPUTF8.</summary>
    public static string Format(string orcpt, bool smtpUtf8)
    {
        var (type, address) = Split(orcpt);
        return IsUtf8(type) ? $"{type};{Utf8AddressText.Encode(address, smtpUtf8)}" : $"{type};{Xtext.Encode(address)}";
    }

    /// <summary>
    /// "type; address" for the Original-Recipient field of a message/delivery-status (RFC 3464 2.3.1: the ORCPT with
    /// its xtext undone). That body part is ASCII: RFC 6533 3 has a utf-8 address there as utf-8-addr-xtext; the
    /// utf-8-address form (UTF-8 as it is) belongs to message/global-delivery-status, which is not written.
    /// </summary>
    public static string ForDeliveryStatus(string orcpt)
    {
        var (type, address) = Split(orcpt);
        return IsUtf8(type) ? $"{type}; {Utf8AddressText.Encode(address, unicode: false)}" : $"{type}; {address}";
    }

    /// <summary>"rfc822; address" for Final-Recipient, or for an address that is not ASCII "utf-8; " and its
    /// utf-8-addr-xtext (RFC 6533 3; message/delivery-status is ASCII).</summary>
    public static string FinalRecipient(string address) =>
        Ascii.IsValid(address) ? $"rfc822; {address}" : $"utf-8; {Utf8AddressText.Encode(address, unicode: false)}";

    // An envelope written before the type was kept (a bare address) is rfc822.
    private static (string Type, string Address) Split(string orcpt)
    {
        var semi = orcpt.IndexOf(';', StringComparison.Ordinal);
        return semi <= 0 ? ("rfc822", orcpt) : (orcpt[..semi], orcpt[(semi + 1)..]);
    }

    /// <summary>Whether the address needs SMTPUTF8 to go out as it is (a utf-8 ORCPT with non-ASCII).</summary>
    public static bool IsUtf8(string type) => type.Equals("utf-8", StringComparison.OrdinalIgnoreCase);
}
