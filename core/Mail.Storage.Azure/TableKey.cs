using System.Text;

namespace Mail.Storage.Azure;

/// <summary>
/// Table storage forbids '/', '\', '#', '?' and control characters in PartitionKey and RowKey, and mailbox
/// names use '/' as their hierarchy delimiter. This escapes those (and '%', the escape itself) as %XX so any
/// string maps to a legal key and back. The original strings are also stored as properties.
/// </summary>
internal static class TableKey
{
    public static string Escape(string value)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            var bad = c is '/' or '\\' or '#' or '?' or '%' or '|' || char.IsControl(c);
            if (bad)
            {
                sb ??= new StringBuilder(value, 0, i, value.Length + 8);
                sb.Append('%').Append(((int)c).ToString("X2"));
            }
            else
            {
                sb?.Append(c);
            }
        }
        return sb?.ToString() ?? value;
    }

    /// <summary>Fixed-width decimal so that the lexical order of row keys is the numeric order.</summary>
    public static string Number(long n) => n.ToString("D19", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>OData string literal for a filter.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "''") + "'";
}
