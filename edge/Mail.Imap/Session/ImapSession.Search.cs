using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>SEARCH (RFC 9051 6.4.4) and its results: ESEARCH return options (RFC 4731), SAVE (RFC 5182 SEARCHRES),
/// PARTIAL and UPDATE (RFC 5267). The keys themselves are ImapSession.SearchKeys.cs.</summary>
internal sealed partial class ImapSession
{
    private async Task<string> SearchAsync(ArgReader r, bool uid, string tag, CancellationToken ct)
    {
        r.Space();
        var returns = ReadReturnOptions(r, "SEARCH", out var partial);
        var update = TakeContextOptions(returns, tag);
        var save = returns?.Remove("SAVE") ?? false;
        var sel = _selected!;
        SearchProgram program;
        List<(int Seq, MessageRecord Record)> matches;
        try
        {
            if (r.TryAtom("CHARSET"))
            {
                r.Space();
                if (!KnownCharset(r.AString()))
                {
                    if (save) sel.SearchResult = [];
                    return "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset";
                }
                r.Space();
            }
            program = ParseSearchProgram(r);
            matches = await MatchAsync(program, ct);
        }
        catch when (save)
        {
            // RFC 5182 2.1: a SEARCH with SAVE that fails leaves "$" empty, so a pipelined FETCH $ acts on nothing.
            sel.SearchResult = [];
            throw;
        }
        var usesModSeq = program.UsesModSeq;
        if (update) StartUpdates(tag, uid, program, null, matches.Select(m => m.Record).ToList());
        var numbers = matches.Select(m => uid ? m.Record.Uid : m.Seq).ToList();
        var window = partial?.Window(matches) ?? [];
        if (save)
        {
            // With MIN, MAX and/or PARTIAL but neither ALL nor COUNT, only those are saved (RFC 5182 2.4).
            var minMaxOnly = returns!.Count > 0 && !returns.Contains("ALL") && !returns.Contains("COUNT");
            var saved = new HashSet<long>();
            if (!minMaxOnly) saved.UnionWith(matches.Select(m => m.Record.Uid));
            else if (matches.Count > 0)
            {
                if (returns.Contains("MIN")) saved.Add(matches[0].Record.Uid);
                if (returns.Contains("MAX")) saved.Add(matches[^1].Record.Uid);
                saved.UnionWith(window.Select(m => m.Record.Uid));
            }
            sel.SearchResult = saved;
            if (returns.Count == 0 && !update) return uid ? "OK UID SEARCH completed" : "OK SEARCH completed"; // SAVE alone: no ESEARCH
        }
        // RFC 7162 3.1.5: the highest MODSEQ of the messages returned; with only MIN, MAX and/or PARTIAL, of those alone.
        var modSeq = !usesModSeq || matches.Count == 0 ? (long?)null
            : returns is null || returns.Contains("ALL") || returns.Contains("COUNT") ? matches.Max(m => m.Record.ModSeq)
            : Math.Max(Math.Max(returns.Contains("MIN") ? matches[0].Record.ModSeq : 0, returns.Contains("MAX") ? matches[^1].Record.ModSeq : 0),
                window.Count > 0 ? window.Max(m => m.Record.ModSeq) : 0);
        if (modSeq == 0) modSeq = null;
        if (returns is null && !_rev2)
        {
            var line = numbers.Count == 0 ? "* SEARCH" : "* SEARCH " + string.Join(' ', numbers);
            if (modSeq is not null) line += $" (MODSEQ {modSeq})";
            _conn.WriteLine(line);
        }
        else
        {
            // In mailbox order, so ascending: the first is the MIN, the last the MAX.
            _conn.WriteLine(EsearchResponse.Format(tag, uid, returns ?? ["ALL"], numbers, partial, modSeq));
        }
        return uid ? "OK UID SEARCH completed" : "OK SEARCH completed";
    }

    private static bool KnownCharset(string charset) =>
        charset.Equals("UTF-8", StringComparison.OrdinalIgnoreCase) || charset.Equals("US-ASCII", StringComparison.OrdinalIgnoreCase);

    /// <summary>RETURN (MIN MAX COUNT ALL) of ESEARCH (RFC 4731) and ESORT (RFC 5267), CONTEXT, UPDATE and
    /// PARTIAL m:n (RFC 5267 section 4), and SAVE (RFC 5182) for SEARCH; null when absent. RETURN () means ALL;
    /// RETURN (SAVE) alone stays just SAVE.</summary>
    private static List<string>? ReadReturnOptions(ArgReader r, string command, out PartialRange? partial)
    {
        partial = null;
        if (!r.TryAtom("RETURN")) return null;
        r.Space();
        r.Expect('(');
        var returns = new List<string>();
        while (!r.TryChar(')'))
        {
            r.TrySpace();
            var opt = r.Atom().ToUpperInvariant();
            if (opt == "PARTIAL")
            {
                if (partial is not null) throw new ImapParseException("PARTIAL may be given once");
                r.Space();
                partial = PartialRange.Read(r);
            }
            else if (opt is not ("MIN" or "MAX" or "COUNT" or "ALL" or "CONTEXT" or "UPDATE") && !(opt == "SAVE" && command == "SEARCH"))
                throw new ImapParseException($"Unknown {command} return option {opt}");
            returns.Add(opt);
        }
        // RFC 5267 4.4: one PARTIAL, one ALL, or neither.
        if (partial is not null && returns.Contains("ALL")) throw new ImapParseException("PARTIAL and ALL may not be combined");
        if (returns.Count == 0) returns.Add("ALL");
        r.Space();
        return returns;
    }
}
