using MimeKit;

namespace Mail.Defences;

/// <summary>The header text of PREPEND / REPLACE actions, from tables and from the edge's policy results.</summary>
internal static class ActionHeader
{
    /// <summary>"Name: value" with a printable ASCII field name; anything else is refused (the action is ignored).</summary>
    public static bool TryParse(string text, out Header header)
    {
        header = null!;
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0) return false;
        var name = text[..colon].Trim();
        if (name.Length == 0 || name.Any(c => c <= ' ' || c > '~')) return false;
        header = new Header(name, text[(colon + 1)..].Trim());
        return true;
    }
}
