using System.Globalization;
using System.Text;

namespace Mail.Imap.Protocol;

/// <summary>Strings as the server sends them: quoted when safe, a literal otherwise, NIL for null.</summary>
internal static class Wire
{
    /// <summary>Quoted string when it fits the quoted grammar, else a synchronizing literal written inline.
    /// <paramref name="utf8"/>: the client accepts 8-bit UTF-8 in quoted strings (IMAP4rev2 / UTF8=ACCEPT).</summary>
    public static string String(string s, bool utf8)
    {
        var quotable = true;
        foreach (var c in s)
        {
            if (c is '\r' or '\n' or '\0' || (c > 0x7e && !utf8)) { quotable = false; break; }
        }
        if (quotable)
        {
            if (s.IndexOfAny(['"', '\\']) < 0) return "\"" + s + "\"";
            return "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        }
        return "{" + Encoding.UTF8.GetByteCount(s).ToString(CultureInfo.InvariantCulture) + "}\r\n" + s;
    }

    public static string NString(string? s, bool utf8) => s is null ? "NIL" : String(s, utf8);

    public static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    public static string FlagList(IEnumerable<string> flags) => "(" + string.Join(' ', flags) + ")";
}
