using System.Text;

namespace Mail.Imap.Messages;

/// <summary>
/// The base subject of RFC 5256 2.1, which SORT (SUBJECT) and THREAD compare: the decoded subject with whitespace
/// runs collapsed, reply/forward markers ("Re:", "Fwd:", "Fw:", each with an optional [blob]), leading [blobs] (when
/// something is left after them), trailing "(fwd)" and "[fwd: ...]" wrappers removed, repeatedly.
/// </summary>
internal static class BaseSubject
{
    public static string Extract(string? decodedSubject) => Extract(decodedSubject, out _);

    /// <summary>The base subject; <paramref name="replyOrForward"/> when a reply or forward marker was removed
    /// (THREAD's subject gathering prefers the original to the replies).</summary>
    public static string Extract(string? decodedSubject, out bool replyOrForward)
    {
        replyOrForward = false;
        var s = Collapse(decodedSubject ?? "");
        while (true)
        {
            // (2) trailers: whitespace and "(fwd)".
            while (true)
            {
                var trimmed = s.TrimEnd(' ');
                if (trimmed.EndsWith("(fwd)", StringComparison.OrdinalIgnoreCase))
                {
                    trimmed = trimmed[..^5];
                    replyOrForward = true;
                }
                if (trimmed == s) break;
                s = trimmed;
            }
            // (3)-(5) leaders: whitespace, subj-refwd, and subj-blob when something is left after it.
            while (true)
            {
                var t = s.TrimStart(' ');
                if (TryRefwd(t, out var rest))
                {
                    t = rest;
                    replyOrForward = true;
                }
                else if (TryBlob(t, out rest) && rest.Trim(' ').Length > 0) t = rest;
                if (t == s) break;
                s = t;
            }
            // (6) "[fwd:" subject "]".
            if (s.Length >= 6 && s.StartsWith("[fwd:", StringComparison.OrdinalIgnoreCase) && s.EndsWith(']'))
            {
                s = s[5..^1];
                replyOrForward = true;
                continue;
            }
            return s;
        }
    }

    /// <summary>The key SORT compares with i;ascii-casemap.</summary>
    public static string SortKey(string? decodedSubject) => AsciiUpper(Extract(decodedSubject));

    public static string AsciiUpper(string s)
    {
        var chars = s.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
            if (chars[i] is >= 'a' and <= 'z') chars[i] = (char)(chars[i] - 32);
        return new string(chars);
    }

    private static string Collapse(string s)
    {
        var sb = new StringBuilder(s.Length);
        var space = false;
        foreach (var c in s)
        {
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                space = true;
                continue;
            }
            if (space && sb.Length > 0) sb.Append(' ');
            space = false;
            sb.Append(c);
        }
        if (space && sb.Length > 0) sb.Append(' ');
        return sb.ToString();
    }

    /// <summary>subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"</summary>
    private static bool TryRefwd(string s, out string rest)
    {
        rest = s;
        int i;
        if (s.StartsWith("re", StringComparison.OrdinalIgnoreCase)) i = 2;
        else if (s.StartsWith("fwd", StringComparison.OrdinalIgnoreCase)) i = 3;
        else if (s.StartsWith("fw", StringComparison.OrdinalIgnoreCase)) i = 2;
        else return false;
        while (i < s.Length && s[i] == ' ') i++;
        if (i < s.Length && s[i] == '[')
        {
            var close = s.IndexOf(']', i);
            if (close < 0 || s.IndexOf('[', i + 1, close - i - 1) >= 0) return false;
            i = close + 1;
            while (i < s.Length && s[i] == ' ') i++;
        }
        if (i >= s.Length || s[i] != ':') return false;
        rest = s[(i + 1)..];
        return true;
    }

    /// <summary>subj-blob = "[" *BLOBCHAR "]" *WSP</summary>
    private static bool TryBlob(string s, out string rest)
    {
        rest = s;
        if (s.Length == 0 || s[0] != '[') return false;
        var close = s.IndexOf(']');
        if (close < 0 || s.IndexOf('[', 1, close - 1) >= 0) return false;
        rest = s[(close + 1)..].TrimStart(' ');
        return true;
    }
}
