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
    private void StartUpdates(string tag, bool uid, SearchProgram program, SortOrder? order, List<MessageRecord> results, List<object[]>? sortValues = null)
    {
        var sel = _selected!;
        if (_contexts.Count >= MaxUpdatingContexts)
        {
            _conn.WriteLine($"* NO [NOUPDATE {Wire.String(tag, false)}] At most {MaxUpdatingContexts} updating contexts; CANCELUPDATE one first");
            return;
        }
        var context = new UpdatingContext(tag, uid, sel, program, order) { Stamp = sel.Stamp };
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
            var removals = context.TakeFromResults(gone.Contains);
            if (removals.Count > 0) WriteUpdate(context, removals, [], modSeq: 0);
        }
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
                var matches = await context.Program.MatchesAsync(_services.Messages, i + 1, record, ct);
                if (matches == members.Contains(uid)) continue;
                if (matches) joining.Add(uid); else leaving.Add(uid);
                modSeq = Math.Max(modSeq, record.ModSeq);
            }
            // Results gone from the view without an EXPUNGE here (none expected) leave quietly in UID contexts too.
            foreach (var uid in members)
                if (!sel.Records.ContainsKey(uid)) leaving.Add(uid);
            if (joining.Count == 0 && leaving.Count == 0) continue;

            var removals = leaving.Count == 0 ? [] : context.TakeFromResults(leaving.Contains);
            removals.RemoveAll(r => !sel.Records.ContainsKey(r.Uid));
            if (context.Order is { } order)
            {
                foreach (var uid in joining)
                    context.SortValues[uid] = await order.ValuesAsync(_services.Messages, sel.Records[uid], ct);
            }
            foreach (var uid in joining) context.Results.Insert(context.InsertionIndex(uid), uid);
            // ADDTO positions are final positions, listed in ascending order: each insertion then lands where it belongs.
            var additions = joining
                .Select(uid => (Position: context.Order is null ? 0 : context.Results.IndexOf(uid) + 1, Uid: uid))
                .OrderBy(a => a.Position).ThenBy(a => a.Uid).ToList();
            WriteUpdate(context, removals, additions, _condStore ? modSeq : 0);
        }
    }

    /// <summary>"* ESEARCH (TAG "t") [UID] [REMOVEFROM (...)] [ADDTO (...)] [MODSEQ n]": removals first, as they
    /// were computed against the result before the additions.</summary>
    private void WriteUpdate(UpdatingContext context, List<(int Position, long Uid)> removals, List<(int Position, long Uid)> additions, long modSeq)
    {
        if (removals.Count == 0 && additions.Count == 0) return;
        var sb = new StringBuilder($"* ESEARCH (TAG {Wire.String(context.Tag, false)})");
        if (context.Uid) sb.Append(" UID");
        if (removals.Count > 0) sb.Append(" REMOVEFROM (").Append(context.UpdatePairs(removals, removal: true)).Append(')');
        if (additions.Count > 0) sb.Append(" ADDTO (").Append(context.UpdatePairs(additions, removal: false)).Append(')');
        if (modSeq > 0) sb.Append(" MODSEQ ").Append(modSeq);
        _conn.WriteLine(sb.ToString());
    }
}
