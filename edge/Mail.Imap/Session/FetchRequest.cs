using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>
/// The arguments of FETCH and UID FETCH (RFC 9051 6.4.5): <c>sequence-set SP fetch-att-list [SP modifiers]</c>, the
/// modifiers being CHANGEDSINCE (RFC 7162 3.1.4) and VANISHED (RFC 7162 3.2.6). Each data item is a
/// <see cref="FetchItem"/>. Only the grammar: what the session's state allows (VANISHED needs QRESYNC) is the
/// handler's to check.
/// </summary>
internal sealed record FetchRequest(SequenceSet Set, List<FetchItem> Items, long? ChangedSince, bool Vanished)
{
    /// <summary>Whether a modifier list was given: any of them makes FETCH a CONDSTORE-enabling command.</summary>
    public bool HasModifiers { get; init; }

    /// <summary>Reads the arguments after the command name, to the end of the command.</summary>
    public static FetchRequest Parse(ArgReader r)
    {
        r.Space();
        var set = SequenceSet.Parse(r.SequenceSetText());
        r.Space();
        var items = FetchItem.ParseList(r);
        long? changedSince = null;
        var vanished = false;
        var modifiers = false;
        if (r.TrySpace())
        {
            r.Expect('(');
            do
            {
                var m = r.Atom().ToUpperInvariant();
                if (m == "VANISHED")
                {
                    vanished = true;
                    continue;
                }
                if (m != "CHANGEDSINCE") throw new ImapParseException($"Unknown FETCH modifier {m}");
                r.Space();
                changedSince = r.Number();
            } while (r.TrySpace());
            r.Expect(')');
            modifiers = true;
        }
        r.ExpectEnd();
        return new FetchRequest(set, items, changedSince, vanished) { HasModifiers = modifiers };
    }

    public bool Asks(FetchKind kind) => Items.Any(i => i.Kind == kind);

    /// <summary>A BODY[...] or BINARY[...] without .PEEK: fetching it sets \Seen (RFC 9051 6.4.5).</summary>
    public bool SetsSeen => Items.Any(i => i.Kind is FetchKind.Section or FetchKind.Binary && !i.Peek);

    /// <summary>Every item is in the message's record or its header block (the mail-client sync FETCH).</summary>
    public bool OnlySummary => Items.All(i => i.Kind is FetchKind.Flags or FetchKind.Uid or FetchKind.InternalDate or FetchKind.Size or FetchKind.ModSeq or FetchKind.Envelope);
}
