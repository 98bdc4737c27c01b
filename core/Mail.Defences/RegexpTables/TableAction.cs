namespace Mail.Defences.RegexpTables;

/// <summary>
/// The actions of Postfix header_checks(5)/body_checks, plus our extension <see cref="Junk"/>.
/// </summary>
public enum TableActionKind
{
    /// <summary>REJECT [text]: refuse the message at end of data (an edge concern; the pipeline records it).</summary>
    Reject,
    /// <summary>DISCARD [text]: accept and silently drop.</summary>
    Discard,
    /// <summary>HOLD [text]: keep the message aside for an operator (our quarantine).</summary>
    Hold,
    /// <summary>WARN [text]: log and record only.</summary>
    Warn,
    /// <summary>INFO [text]: like WARN, at informational level.</summary>
    Info,
    /// <summary>IGNORE: delete the matched header (header checks); skip the line (body checks).</summary>
    Ignore,
    /// <summary>PREPEND text: add a header field above the matched one.</summary>
    Prepend,
    /// <summary>REPLACE text: replace the matched header field.</summary>
    Replace,
    /// <summary>REDIRECT user@domain: deliver to that address instead of the recipients.</summary>
    Redirect,
    /// <summary>FILTER transport:destination: hand to a content filter (recorded only).</summary>
    Filter,
    /// <summary>DUNNO: stop looking in this table for the current input, do nothing.</summary>
    Dunno,
    /// <summary>JUNK [text]: our extension, "file to Junk": deliver into the recipient's \Junk mailbox.</summary>
    Junk,
}

/// <summary>One action with its text (already with $1..$9 substituted when it came from a match).</summary>
public sealed record TableAction(TableActionKind Kind, string Text)
{
    /// <summary>Words as written in table files, upper case (matching is case-insensitive).</summary>
    public static readonly IReadOnlyDictionary<string, TableActionKind> Words = new Dictionary<string, TableActionKind>(StringComparer.OrdinalIgnoreCase)
    {
        ["REJECT"] = TableActionKind.Reject,
        ["DISCARD"] = TableActionKind.Discard,
        ["HOLD"] = TableActionKind.Hold,
        ["WARN"] = TableActionKind.Warn,
        ["INFO"] = TableActionKind.Info,
        ["IGNORE"] = TableActionKind.Ignore,
        ["PREPEND"] = TableActionKind.Prepend,
        ["REPLACE"] = TableActionKind.Replace,
        ["REDIRECT"] = TableActionKind.Redirect,
        ["FILTER"] = TableActionKind.Filter,
        ["DUNNO"] = TableActionKind.Dunno,
        ["JUNK"] = TableActionKind.Junk,
    };

    /// <summary>Actions whose text is mandatory.</summary>
    internal static bool NeedsText(TableActionKind kind) =>
        kind is TableActionKind.Prepend or TableActionKind.Replace or TableActionKind.Redirect or TableActionKind.Filter;

    /// <summary>Parses "ACTION text". Returns an error message instead of throwing so the caller can name file and line.</summary>
    public static bool TryParse(string result, out TableAction? action, out string? error)
    {
        action = null;
        error = null;
        var s = result.Trim();
        var sp = s.IndexOfAny([' ', '\t']);
        var word = sp < 0 ? s : s[..sp];
        var text = sp < 0 ? "" : s[(sp + 1)..].Trim();
        if (!Words.TryGetValue(word, out var kind))
        {
            error = word.Length == 0 ? "missing action" : $"unknown action '{word}'";
            return false;
        }
        if (NeedsText(kind) && text.Length == 0)
        {
            error = $"action {word.ToUpperInvariant()} needs an argument";
            return false;
        }
        if (kind == TableActionKind.Redirect && !text.Contains('@', StringComparison.Ordinal))
        {
            error = $"REDIRECT needs user@domain, got '{text}'";
            return false;
        }
        action = new TableAction(kind, text);
        return true;
    }

    public override string ToString() => Text.Length == 0 ? Kind.ToString().ToUpperInvariant() : $"{Kind.ToString().ToUpperInvariant()} {Text}";
}
