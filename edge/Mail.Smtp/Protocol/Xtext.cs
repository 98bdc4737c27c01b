using System.Text;

namespace Mail.Smtp.Protocol;

/// <summary>RFC 3461 section 4 xtext: printable ASCII except '+' and '=', with "+XX" (upper-case hex) for anything else.</summary>
internal static class Xtext
{
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
            decoded = new UTF8Encoding(false, true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        return true;
    }

    private static bool IsUpperHex(char c) => c is >= '0' and <= '9' or >= 'A' and <= 'F';
}
