using System.Security.Cryptography;
using System.Text;

namespace Mail.Core.Text;

/// <summary>
/// A SHA-256 fingerprint of a text (its UTF-8 form) as lower-case hex: for values that must change whenever what they
/// stand for changes (a table's content, a configuration), never for secrets.
/// </summary>
public static class Sha256Hex
{
    /// <param name="chars">How many hex digits to keep (64, all of them, by default).</param>
    public static string Of(string text, int chars = 64) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..chars];
}
