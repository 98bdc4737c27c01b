using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>
/// QRESYNC (RFC 7162 section 3.2): quick resynchronisation of a mailbox the client has cached. Once enabled, a
/// SELECT/EXAMINE can name the UIDVALIDITY and MODSEQ the client last saw and is answered with VANISHED (EARLIER)
/// for the UIDs expunged since and FETCH for the messages changed since; expunges are reported as VANISHED UID
/// sets instead of EXPUNGE sequence numbers. Expunges come from the store's expunge log (every expunged UID with
/// the MODSEQ of its expunge, kept until the mailbox is deleted), so the answer is exact and the optional
/// sequence-match data of the client is read but not needed.
/// </summary>
internal sealed partial class ImapSession
{
    private bool _qresync;

    /// <summary>The QRESYNC SELECT parameter: what the client has cached (RFC 7162 3.2.5).</summary>
    /// <param name="KnownUids">The UIDs the client knows; null means all.</param>
    private sealed record QresyncRequest(long UidValidity, long ModSeq, SequenceSet? KnownUids);

    /// <summary>ENABLE QRESYNC: implies CONDSTORE (RFC 7162 3.2.3).</summary>
    private bool EnableQresync()
    {
        if (_qresync) return false;
        EnableCondStore();
        _qresync = true;
        return true;
    }

    /// <summary>"QRESYNC (uidvalidity modseq [known-uids [(known-sequence-set known-uid-set)]])", after the word QRESYNC.</summary>
    private QresyncRequest ReadQresyncParameter(ArgReader r)
    {
        if (!_qresync) throw new ImapParseException("QRESYNC parameter without ENABLE QRESYNC first");
        r.Space();
        r.Expect('(');
        var uidValidity = r.Number();
        r.Space();
        var modSeq = r.Number();
        if (uidValidity == 0 || modSeq == 0) throw new ImapParseException("QRESYNC needs a non-zero UIDVALIDITY and MODSEQ");
        SequenceSet? known = null;
        if (r.TrySpace() && r.Peek != '(')
        {
            known = SequenceSet.Parse(r.SequenceSetText());
            if (known.IsSearchResult) throw new ImapParseException("'$' is not a known-uids set");
            r.TrySpace();
        }
        if (r.TryChar('('))
        {
            // Sequence-match data lets a server without an expunge log work out what went; ours has the log.
            SequenceSet.Parse(r.SequenceSetText());
            r.Space();
            SequenceSet.Parse(r.SequenceSetText());
            r.Expect(')');
        }
        r.Expect(')');
        return new QresyncRequest(uidValidity, modSeq, known);
    }

    /// <summary>After the SELECT responses: VANISHED (EARLIER) for the known UIDs expunged since the client's MODSEQ,
    /// then FETCH (UID FLAGS MODSEQ) for the known messages changed since. Nothing when UIDVALIDITY changed: the
    /// client must then forget its cache anyway.</summary>
    private async Task WriteResyncAsync(SelectedMailbox sel, QresyncRequest request, CancellationToken ct)
    {
        if (request.UidValidity != sel.UidValidity) return;
        var max = Math.Max(sel.UidNext - 1, 1);
        var gone = await Mailboxes.ListExpungedAsync(_user, sel.Name, request.ModSeq, ct);
        WriteVanishedEarlier(NotInView(sel, gone).Where(u => request.KnownUids is null || request.KnownUids.Contains(u, max)));
        for (var i = 0; i < sel.Uids.Count; i++)
        {
            var m = sel.Records[sel.Uids[i]];
            if (m.ModSeq <= request.ModSeq || (request.KnownUids is not null && !request.KnownUids.Contains(m.Uid, max))) continue;
            _conn.WriteLine($"* {i + 1} FETCH ({FlagsAndModSeq(m, includeUid: true)})");
            await _conn.MaybeFlushAsync(ct);
        }
    }

    /// <summary>UID FETCH ... (CHANGEDSINCE n VANISHED): the UIDs of the set expunged since n, before the FETCH responses (RFC 7162 3.2.6).</summary>
    private async Task WriteFetchVanishedAsync(SelectedMailbox sel, SequenceSet set, long changedSince, CancellationToken ct)
    {
        if (set.IsSearchResult) return; // "$" holds only messages that still exist
        var max = Math.Max(sel.UidNext - 1, 1);
        var gone = await Mailboxes.ListExpungedAsync(_user, sel.Name, changedSince, ct);
        WriteVanishedEarlier(NotInView(sel, gone).Where(u => set.Contains(u, max)));
    }

    /// <summary>
    /// The expunged UIDs the session's view no longer holds. The expunge log is read after the view: another session's
    /// expunge committed in between is in the log while the view (and the EXISTS count just sent) still has its
    /// message. VANISHED (EARLIER) must not report it then, or the client drops a message the session goes on numbering
    /// (imaptest: "UID changed for sequence 2: 987 -> 957" after a reselect lost 30 messages); the session's next look
    /// for changes reports it as VANISHED, as for any expunge after the SELECT.
    /// </summary>
    private static IEnumerable<long> NotInView(SelectedMailbox sel, IEnumerable<long> expunged) =>
        expunged.Where(u => !sel.Records.ContainsKey(u));

    private void WriteVanishedEarlier(IEnumerable<long> uids)
    {
        var text = SequenceSet.Format(uids.Order());
        if (text.Length > 0) _conn.WriteLine($"* VANISHED (EARLIER) {text}");
    }

    /// <summary>Forgets the messages at <paramref name="indexes"/> (0-based, any order) and tells the client: one
    /// EXPUNGE per message, highest sequence number first so the numbers still to report do not shift, or once
    /// QRESYNC is enabled one VANISHED with their UIDs (RFC 7162 3.2.10: EXPUNGE is then never sent).</summary>
    private void ReportExpunged(SelectedMailbox sel, IEnumerable<int> indexes)
    {
        var descending = indexes.Distinct().OrderByDescending(i => i).ToList();
        if (descending.Count == 0) return;
        if (_qresync)
        {
            var uids = descending.Select(i => sel.Uids[i]).Order().ToList();
            foreach (var i in descending) sel.RemoveAt(i);
            _conn.WriteLine($"* VANISHED {SequenceSet.Format(uids)}");
            return;
        }
        foreach (var i in descending)
        {
            _conn.WriteLine($"* {i + 1} EXPUNGE");
            sel.RemoveAt(i);
        }
    }

    /// <summary>The tagged OK of EXPUNGE carries the mailbox's HIGHESTMODSEQ once QRESYNC is enabled (RFC 7162 3.2.10),
    /// so a client can store it with the expunges it just heard of. The session first catches up with the store:
    /// the value must not cover a change (another session's) the client has not been told of yet.</summary>
    private async Task<string> ExpungeCompletionAsync(SelectedMailbox sel, string text, CancellationToken ct)
    {
        if (!_qresync) return $"OK {text}";
        await RefreshAsync(allowExpunge: !SequenceCommandPipelined(), ct);
        return sel.HighestModSeq > 0 ? $"OK [HIGHESTMODSEQ {sel.HighestModSeq}] {text}" : $"OK {text}";
    }
}
