namespace Mail.Pop3.Protocol;

/// <summary>One command line (RFC 1939 section 3, RFC 2449 section 3): a case-insensitive keyword and arguments
/// separated by single spaces. Lenient on extra spaces, which some clients send.</summary>
internal sealed record Pop3Command(string Name, IReadOnlyList<string> Arguments)
{
    public static Pop3Command Parse(string line)
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) return new Pop3Command("", []);
        return new Pop3Command(words[0].ToUpperInvariant(), words[1..]);
    }

    /// <summary>A message-number argument: decimal digits, at least 1 (RFC 1939 section 3).</summary>
    public static bool TryMessageNumber(string text, out int number) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out number) && number > 0;

    /// <summary>TOP's line count: zero or more.</summary>
    public static bool TryLineCount(string text, out long lines) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out lines);
}
