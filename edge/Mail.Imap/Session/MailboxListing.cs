using Mail.Core.Ports;

namespace Mail.Imap.Session;

/// <summary>What a LIST or LSUB command asked for: RFC 5258 selection options (SUBSCRIBED, REMOTE,
/// RECURSIVEMATCH, RFC 6154 SPECIAL-USE) and return options (SUBSCRIBED, CHILDREN, SPECIAL-USE).</summary>
internal sealed record ListSelection
{
    /// <summary>LSUB (RFC 3501 6.3.9): subscribed names only, and no attributes but \Noselect.</summary>
    public bool Lsub { get; init; }

    public bool SelectSubscribed { get; init; }

    public bool SelectSpecialUse { get; init; }

    public bool RecursiveMatch { get; init; }

    public bool ReturnSubscribed { get; init; }

    public bool ReturnSpecialUse { get; init; } = true;
}

/// <summary>One LIST/LSUB reply line: the name, its attributes, whether it carries
/// <c>("CHILDINFO" ("SUBSCRIBED"))</c>, and the mailbox when it exists (for LIST-STATUS).</summary>
internal sealed record ListEntry(string Name, IReadOnlyList<string> Attributes, bool ChildInfo, MailboxInfo? Mailbox);

/// <summary>
/// Which names a LIST or LSUB returns, with which attributes, from the user's mailboxes and subscriptions
/// (which are independent: a subscribed name may not exist). The rules:
/// <list type="bullet">
/// <item>Plain LIST: the existing mailboxes and the parents their names imply (those as <c>\NonExistent</c>).</item>
/// <item>LIST (SUBSCRIBED) and LSUB: the subscribed names, <c>\Subscribed</c> (LIST) and <c>\NonExistent</c>
/// (LIST) or <c>\Noselect</c> (LSUB) for those that do not exist.</item>
/// <item>A name that matches a pattern but not the selection, and has a descendant that matches the selection but
/// no pattern, is returned too: by LSUB with <c>\Noselect</c> (RFC 3501 6.3.9, the "%" case), by LIST with
/// RECURSIVEMATCH with CHILDINFO (RFC 5258 3.5). A mailbox that matches both gets CHILDINFO as well.</item>
/// <item><c>\HasChildren</c>/<c>\HasNoChildren</c> always (the CHILDREN return option is implied), about existing
/// mailboxes whatever the selection; no <c>\HasNoChildren</c> on a name that does not exist.</item>
/// </list>
/// INBOX first, then ordinal order; a name matching several patterns is returned once.
/// </summary>
internal static class MailboxListing
{
    public static List<ListEntry> Build(IReadOnlyList<MailboxInfo> mailboxes, IReadOnlyCollection<string> subscriptions, IReadOnlyList<string> patterns, ListSelection selection)
    {
        var normalized = patterns.Select(ListPattern.Normalize).ToList();
        bool Matches(string name) => normalized.Exists(p => ListPattern.Matches(p, name));

        var existing = mailboxes.ToDictionary(b => b.Name, StringComparer.Ordinal);
        var subscribed = subscriptions.ToHashSet(StringComparer.Ordinal);
        var hierarchy = new HashSet<string>(existing.Keys, StringComparer.Ordinal);
        var withChildren = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in existing.Keys)
        {
            foreach (var parent in Ancestors(name))
            {
                hierarchy.Add(parent);
                withChildren.Add(parent);
            }
        }

        var bySubscription = selection.Lsub || selection.SelectSubscribed;
        bool Selected(string name) =>
            (bySubscription ? subscribed.Contains(name) : hierarchy.Contains(name))
            && (!selection.SelectSpecialUse || existing.GetValueOrDefault(name)?.SpecialUse is not null);

        // Names with a selected descendant that no pattern matches: LSUB's \Noselect parents, RECURSIVEMATCH's CHILDINFO.
        var parentsOfUnmatched = new HashSet<string>(StringComparer.Ordinal);
        var universe = bySubscription ? subscribed : hierarchy;
        if (selection.Lsub || selection.RecursiveMatch)
        {
            foreach (var name in universe)
            {
                if (!Selected(name) || Matches(name)) continue;
                foreach (var parent in Ancestors(name)) parentsOfUnmatched.Add(parent);
            }
        }

        var candidates = new HashSet<string>(universe, StringComparer.Ordinal);
        candidates.UnionWith(parentsOfUnmatched);
        var entries = new List<ListEntry>();
        foreach (var name in candidates.OrderBy(n => n == "INBOX" ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal))
        {
            if (!Matches(name)) continue;
            var selected = Selected(name);
            var childInfo = parentsOfUnmatched.Contains(name);
            if (!selected && !childInfo) continue;
            var box = existing.GetValueOrDefault(name);
            var attributes = new List<string>();
            if (selection.Lsub)
            {
                if (!selected || box is null) attributes.Add("\\Noselect");
                entries.Add(new ListEntry(name, attributes, false, box));
                continue;
            }
            if (box is null) attributes.Add("\\NonExistent");
            if (withChildren.Contains(name)) attributes.Add("\\HasChildren");
            else if (box is not null) attributes.Add("\\HasNoChildren");
            if ((selection.SelectSubscribed || selection.ReturnSubscribed) && subscribed.Contains(name)) attributes.Add("\\Subscribed");
            if (selection.ReturnSpecialUse && box?.SpecialUse is not null) attributes.Add(box.SpecialUse);
            entries.Add(new ListEntry(name, attributes, childInfo && selection.RecursiveMatch, box));
        }
        return entries;
    }

    /// <summary>"a/b/c" gives "a", "a/b".</summary>
    private static IEnumerable<string> Ancestors(string name)
    {
        for (var i = name.IndexOf('/'); i > 0; i = name.IndexOf('/', i + 1)) yield return name[..i];
    }
}

/// <summary>A LIST or LSUB mailbox pattern (RFC 9051 6.3.9): '*' matches any characters, '%' any but the hierarchy
/// delimiter '/', everything else itself; INBOX matches case-insensitively. Matched by a scan with one row of
/// states per pattern character (time pattern × name, no backtracking), not a regular expression: a restarted
/// gateway's first LIST would otherwise build the regex engine's parser and interpreter inside a client's login.</summary>
internal static class ListPattern
{
    private const char Delimiter = '/';

    /// <summary>The pattern with a leading "inbox" (any case, alone or before '/', '*' or '%') as the store names it.</summary>
    public static string Normalize(string pattern) =>
        pattern.StartsWith("INBOX", StringComparison.OrdinalIgnoreCase) && (pattern.Length == 5 || pattern[5] is Delimiter or '*' or '%')
            ? "INBOX" + pattern[5..]
            : pattern;

    /// <summary>Whether <paramref name="name"/> matches the <see cref="Normalize"/>d <paramref name="pattern"/>.</summary>
    public static bool Matches(string pattern, string name)
    {
        // matched[j]: the pattern's characters so far match the first j characters of the name.
        var n = name.Length;
        Span<bool> matched = n < 256 ? stackalloc bool[n + 1] : new bool[n + 1];
        matched.Clear();
        matched[0] = true;
        foreach (var c in pattern)
        {
            if (c == '*')
            {
                for (var j = 1; j <= n; j++) matched[j] |= matched[j - 1];
            }
            else if (c == '%')
            {
                for (var j = 1; j <= n; j++) matched[j] |= matched[j - 1] && name[j - 1] != Delimiter;
            }
            else
            {
                for (var j = n; j >= 1; j--) matched[j] = matched[j - 1] && name[j - 1] == c;
                matched[0] = false;
            }
        }
        return matched[n];
    }
}
