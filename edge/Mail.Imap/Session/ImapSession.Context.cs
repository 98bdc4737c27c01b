using System.Text;
using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>
/// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4): the CONTEXT hint (accepted, ignored), PARTIAL m:n
/// windows of a result, and UPDATE, which keeps the result of a SEARCH or SORT live: as the mailbox changes (by this
/// session or any other) the session sends "* ESEARCH (TAG ...) REMOVEFROM/ADDTO" until CANCELUPDATE or until the
/// mailbox is no longer selected.
/// </summary>
internal sealed partial class ImapSession
{
    /// <summary>RFC 5267 4.3.1: at least one updating context per session; beyond this many the server answers
    /// NOUPDATE (each context is matched again whenever the mailbox changes).</summary>
    private const int MaxUpdatingContexts = 10;

    /// <summary>The updating contexts of this session, oldest first.</summary>
    private readonly List<UpdatingContext> _contexts = [];

    /// <summary>A SEARCH or SORT whose result the client asked to keep up to date.</summary>
    private sealed class UpdatingContext(string tag, bool uid, SelectedMailbox mailbox, SearchProgram program, List<SortCriterion>? criteria)
    {
        public string Tag { get; } = tag;
        public bool Uid { get; } = uid;

        /// <summary>The selection the context belongs to: a new SELECT (even of the same mailbox) ends it.</summary>
        public SelectedMailbox Mailbox { get; } = mailbox;

        public SearchProgram Program { get; } = program;

        /// <summary>Null for SEARCH (results kept in mailbox order, context position 0).</summary>
        public List<SortCriterion>? Criteria { get; } = criteria;

        /// <summary>UIDs of the result in the order the client keeps it: mailbox order, or the requested sort order.</summary>
        public List<long> Results { get; } = [];

        /// <summary>Sort values of the messages in <see cref="Results"/> (SORT only): they never change, since
        /// messages are immutable but for their flags.</summary>
        public Dictionary<long, object[]> SortValues { get; } = [];

        /// <summary>The session's view of the mailbox when the context was last brought up to date: unchanged means
        /// nothing to do; otherwise only messages with a higher MODSEQ (new flags) or UID (new mail) are matched again.</summary>
        public (long HighestModSeq, int Count, long MaxUid) Stamp { get; set; }

        public int Compare(long uidA, long uidB)
        {
            if (Criteria is null) return uidA.CompareTo(uidB);
            var c = CompareSortValues(Criteria, SortValues[uidA], SortValues[uidB]);
            return c != 0 ? c : uidA.CompareTo(uidB); // ties in sequence order, as the SORT itself
        }

        /// <summary>Index at which <paramref name="uid"/> belongs in <see cref="Results"/>.</summary>
        public int InsertionIndex(long uid)
        {
            int lo = 0, hi = Results.Count;
            while (lo < hi)
            {
                var mid = (lo + hi) / 2;
                if (Compare(Results[mid], uid) < 0) lo = mid + 1; else hi = mid;
            }
            return lo;
        }
    }

    /// <summary>RETURN (PARTIAL first:last) of RFC 5267 4.4: the first..last results, 1-based, of the whole result.</summary>
    private readonly record struct PartialRange(long First, long Last)
    {
        /// <summary>partial-range = nz-number ":" nz-number; "500:400" is the same as "400:500", "*" is not allowed.</summary>
        public static PartialRange Read(ArgReader r)
        {
            var a = r.NzNumber();
            r.Expect(':');
            var b = r.NzNumber();
            return new PartialRange(Math.Min(a, b), Math.Max(a, b));
        }

        public List<T> Window<T>(List<T> results) =>
            First > results.Count ? [] : results.GetRange((int)(First - 1), (int)(Math.Min(Last, results.Count) - First + 1));

        /// <summary>" PARTIAL (first:last set)", NIL when no result falls in the range.</summary>
        public string Format(List<long> window, bool sorted) =>
            $" PARTIAL ({First}:{Last} {(window.Count == 0 ? "NIL" : sorted ? OrderedSet(window) : SequenceSet.Format(window))})";
    }

    /// <summary>Takes CONTEXT (a hint this server does not need) and UPDATE out of the return options; true when
    /// UPDATE was asked for. RETURN (CONTEXT) alone means RETURN (): ALL.</summary>
    private bool TakeContextOptions(List<string>? returns, string tag)
    {
        if (returns is null) return false;
        if (returns.Remove("CONTEXT") && returns.Count == 0) returns.Add("ALL");
        if (!returns.Remove("UPDATE")) return false;
        DropEndedContexts();
        // RFC 5267 4.3: UPDATE with the tag of a live updating context SHALL be rejected with BAD.
        if (_contexts.Any(c => c.Tag == tag)) throw new ImapParseException($"Tag reuse: {Truncate(tag)} already names an updating context");
        return true;
    }

    /// <summary>Keeps the result of the command tagged <paramref name="tag"/> up to date from now on, or says
    /// NOUPDATE (the other return options are still answered). <paramref name="results"/> in result order.</summary>
    private void StartUpdates(string tag, bool uid, SearchProgram program, List<SortCriterion>? criteria, List<MessageRecord> results, List<object[]>? sortValues = null)
    {
        var sel = _selected!;
        if (_contexts.Count >= MaxUpdatingContexts)
        {
            _conn.WriteLine($"* NO [NOUPDATE {Wire.String(tag, false)}] At most {MaxUpdatingContexts} updating contexts; CANCELUPDATE one first");
            return;
        }
        var context = new UpdatingContext(tag, uid, sel, program, criteria) { Stamp = sel.Stamp };
        for (var i = 0; i < results.Count; i++)
        {
            context.Results.Add(results[i].Uid);
            if (sortValues is not null) context.SortValues[results[i].Uid] = sortValues[i];
        }
        _contexts.Add(context);
    }

    private string CancelUpdate(ArgReader r)
    {
        // command-select =/ "CANCELUPDATE" 1*(SP quoted)
        var tags = new List<string>();
        do
        {
            r.Space();
            tags.Add(r.Quoted());
        } while (!r.AtEnd);
        DropEndedContexts();
        var unknown = tags.FirstOrDefault(t => !_contexts.Any(c => c.Tag == t));
        if (unknown is not null) return $"NO No updating context has the tag {Wire.String(Truncate(unknown), false)}";
        _contexts.RemoveAll(c => tags.Contains(c.Tag));
        return "OK CANCELUPDATE completed";
    }

    /// <summary>Contexts of an earlier selection end: "updates cease when the mailbox is no longer selected".</summary>
    private void DropEndedContexts()
    {
        if (_contexts.Count > 0) _contexts.RemoveAll(c => !ReferenceEquals(c.Mailbox, _selected));
    }

    /// <summary>
    /// Called just before EXPUNGE responses for <paramref name="expunged"/> (UIDs still in the session's view):
    /// REMOVEFROM for those in a context, while their message numbers are still valid (RFC 5267 4.3.4: the
    /// REMOVEFROM MUST come before the EXPUNGE).
    /// </summary>
    private void ReportExpunging(SelectedMailbox sel, IEnumerable<long> expunged)
    {
        DropEndedContexts();
        if (_contexts.Count == 0) return;
        var gone = expunged.ToHashSet();
        if (gone.Count == 0) return;
        foreach (var context in _contexts)
        {
            var removals = TakeFromResults(context, gone.Contains);
            if (removals.Count > 0) WriteUpdate(sel, context, removals, [], modSeq: 0);
        }
    }

    /// <summary>Removes the results <paramref name="remove"/> selects; each as (context position at its removal, UID).</summary>
    private static List<(int Position, long Uid)> TakeFromResults(UpdatingContext context, Func<long, bool> remove)
    {
        var removals = new List<(int, long)>();
        var kept = new List<long>(context.Results.Count);
        foreach (var uid in context.Results)
        {
            if (!remove(uid))
            {
                kept.Add(uid);
                continue;
            }
            // Positions count on the list as it shrinks: the one removed takes the place after those kept so far.
            removals.Add((context.Criteria is null ? 0 : kept.Count + 1, uid));
            context.SortValues.Remove(uid);
        }
        context.Results.Clear();
        context.Results.AddRange(kept);
        return removals;
    }

    /// <summary>
    /// After the session has told the client of the mailbox's changes (EXISTS, FETCH): matches the messages changed
    /// since a context was last brought up to date (MODSEQ or UID above its stamp) against it and sends what left and
    /// joined its result. Costs nothing without contexts, and one comparison per context when the mailbox did not
    /// change.
    /// </summary>
    private async Task SendContextUpdatesAsync(CancellationToken ct)
    {
        DropEndedContexts();
        if (_contexts.Count == 0 || _state != SessionState.Selected || _selected is not { } sel) return;
        foreach (var context in _contexts.ToList())
        {
            var stamp = sel.Stamp;
            if (context.Stamp == stamp) continue;
            var (seenModSeq, _, seenMaxUid) = context.Stamp;
            context.Stamp = stamp;
            var members = context.Results.ToHashSet();
            var joining = new List<long>();
            var leaving = new HashSet<long>();
            long modSeq = 0;
            for (var i = 0; i < sel.Uids.Count; i++)
            {
                var uid = sel.Uids[i];
                var record = sel.Records[uid];
                // Every change of a message's flags gives it a new, higher MODSEQ (RFC 7162); new mail has a higher UID.
                if (record.ModSeq <= seenModSeq && uid <= seenMaxUid) continue;
                var matches = await MatchesAsync(context.Program, i + 1, record, ct);
                if (matches == members.Contains(uid)) continue;
                if (matches) joining.Add(uid); else leaving.Add(uid);
                modSeq = Math.Max(modSeq, record.ModSeq);
            }
            // Results gone from the view without an EXPUNGE here (none expected) leave quietly in UID contexts too.
            foreach (var uid in members)
                if (!sel.Records.ContainsKey(uid)) leaving.Add(uid);
            if (joining.Count == 0 && leaving.Count == 0) continue;

            var removals = leaving.Count == 0 ? [] : TakeFromResults(context, leaving.Contains);
            removals.RemoveAll(r => !sel.Records.ContainsKey(r.Uid));
            if (context.Criteria is not null)
            {
                foreach (var uid in joining)
                    context.SortValues[uid] = await SortValuesAsync(context.Criteria, sel.Records[uid], ct);
            }
            foreach (var uid in joining) context.Results.Insert(context.InsertionIndex(uid), uid);
            // ADDTO positions are final positions, listed in ascending order: each insertion then lands where it belongs.
            var additions = joining
                .Select(uid => (Position: context.Criteria is null ? 0 : context.Results.IndexOf(uid) + 1, Uid: uid))
                .OrderBy(a => a.Position).ThenBy(a => a.Uid).ToList();
            WriteUpdate(sel, context, removals, additions, _condStore ? modSeq : 0);
        }
    }

    /// <summary>"* ESEARCH (TAG "t") [UID] [REMOVEFROM (...)] [ADDTO (...)] [MODSEQ n]": removals first, as they
    /// were computed against the result before the additions.</summary>
    private void WriteUpdate(SelectedMailbox sel, UpdatingContext context, List<(int Position, long Uid)> removals, List<(int Position, long Uid)> additions, long modSeq)
    {
        if (removals.Count == 0 && additions.Count == 0) return;
        var sb = new StringBuilder($"* ESEARCH (TAG {Wire.String(context.Tag, false)})");
        if (context.Uid) sb.Append(" UID");
        if (removals.Count > 0) sb.Append(" REMOVEFROM (").Append(UpdatePairs(sel, context, removals, removal: true)).Append(')');
        if (additions.Count > 0) sb.Append(" ADDTO (").Append(UpdatePairs(sel, context, additions, removal: false)).Append(')');
        if (modSeq > 0) sb.Append(" MODSEQ ").Append(modSeq);
        _conn.WriteLine(sb.ToString());
    }

    /// <summary>
    /// context-position SP sequence-set pairs. SEARCH: one pair at position 0, in mailbox order. SORT: one pair per
    /// run that continues the previous one (a removal at the same position, an insertion right after the last).
    /// </summary>
    private static string UpdatePairs(SelectedMailbox sel, UpdatingContext context, List<(int Position, long Uid)> updates, bool removal)
    {
        long Number(long uid) => context.Uid ? uid : sel.SequenceOf(uid);
        if (context.Criteria is null) return "0 " + SequenceSet.Format(updates.Select(u => Number(u.Uid)).Order());
        var groups = new List<(int Position, List<long> Numbers)>();
        foreach (var (position, uid) in updates)
        {
            if (groups.Count > 0)
            {
                var last = groups[^1];
                var next = removal ? last.Position : last.Position + last.Numbers.Count;
                if (position == next)
                {
                    last.Numbers.Add(Number(uid));
                    continue;
                }
            }
            groups.Add((position, [Number(uid)]));
        }
        return string.Join(' ', groups.Select(g => $"{g.Position} {OrderedSet(g.Numbers)}"));
    }
}
