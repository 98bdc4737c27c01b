using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

internal sealed partial class ImapSession
{
    /// <summary>
    /// LIST (RFC 9051 6.3.9 with RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE) and LSUB
    /// (RFC 3501 6.3.9). What is returned is decided by <see cref="MailboxListing"/>; this parses and writes.
    /// </summary>
    private async Task<string> ListAsync(ArgReader r, bool lsub, CancellationToken ct)
    {
        var command = lsub ? "LSUB" : "LIST";
        r.Space();
        var selection = new ListSelection { Lsub = lsub, ReturnSpecialUse = !lsub };
        if (!lsub && r.TryChar('('))
        {
            var baseOption = false;
            while (!r.TryChar(')'))
            {
                r.TrySpace();
                var opt = r.Atom().ToUpperInvariant();
                selection = opt switch
                {
                    "SUBSCRIBED" => selection with { SelectSubscribed = true },
                    "SPECIAL-USE" => selection with { SelectSpecialUse = true },
                    "RECURSIVEMATCH" => selection with { RecursiveMatch = true },
                    "REMOTE" => selection, // no remote mailboxes: the local ones are all there is
                    _ => throw new ImapParseException($"Unknown LIST selection option {opt}"),
                };
                baseOption |= opt == "SUBSCRIBED";
            }
            // RFC 5258 3.1: RECURSIVEMATCH needs a base option; CHILDINFO reports SUBSCRIBED, the one this server has.
            if (selection.RecursiveMatch && !baseOption) throw new ImapParseException("RECURSIVEMATCH needs the SUBSCRIBED selection option");
            r.Space();
        }
        var referenceWire = r.AString();
        r.Space();
        var patternsWire = new List<string>();
        if (!lsub && r.TryChar('('))
        {
            do patternsWire.Add(r.ListMailbox()); while (r.TrySpace());
            r.Expect(')');
        }
        else patternsWire.Add(r.ListMailbox());
        List<string>? statusItems = null;
        if (!lsub && r.TrySpace())
        {
            if (!r.TryAtom("RETURN")) throw new ImapParseException("Expected RETURN");
            r.Space();
            r.Expect('(');
            while (!r.TryChar(')'))
            {
                r.TrySpace();
                var opt = r.Atom().ToUpperInvariant();
                switch (opt)
                {
                    case "SUBSCRIBED": selection = selection with { ReturnSubscribed = true }; break;
                    case "CHILDREN": break; // \HasChildren / \HasNoChildren are always returned
                    case "SPECIAL-USE": break; // special-use attributes are always returned
                    case "STATUS":
                        r.Space();
                        statusItems = ReadStatusItems(r);
                        break;
                    default: throw new ImapParseException($"Unknown LIST return option {opt}");
                }
            }
        }
        r.ExpectEnd();
        string reference;
        List<string> patterns;
        try
        {
            reference = MailboxName.Decode(referenceWire, Utf8Names);
            patterns = patternsWire.Select(p => MailboxName.Decode(p, Utf8Names)).ToList();
        }
        catch (InvalidMailboxNameException)
        {
            return $"OK {command} completed (no mailbox has such a name)";
        }

        if (patterns.Count == 1 && patterns[0].Length == 0)
        {
            // LIST "" "": the hierarchy delimiter and root.
            _conn.WriteLine($"* {command} (\\Noselect) \"/\" \"\"");
            return $"OK {command} completed";
        }

        var boxes = await Mailboxes.ListMailboxesAsync(_user, ct);
        var subscriptions = lsub || selection.SelectSubscribed || selection.ReturnSubscribed
            ? await Mailboxes.ListSubscriptionsAsync(_user, ct)
            : [];
        foreach (var entry in MailboxListing.Build(boxes, subscriptions, patterns.Select(p => reference + p).ToList(), selection))
        {
            var childInfo = entry.ChildInfo ? " (\"CHILDINFO\" (\"SUBSCRIBED\"))" : "";
            _conn.WriteLine($"* {command} ({string.Join(' ', entry.Attributes)}) \"/\" {MailboxOnWire(entry.Name)}{childInfo}");
            if (statusItems is not null && entry.Mailbox is { } box)
                WriteStatus(box, statusItems, await MessagesIfNeeded(box, statusItems, ct));
            await _conn.MaybeFlushAsync(ct);
        }
        return $"OK {command} completed";
    }
}
