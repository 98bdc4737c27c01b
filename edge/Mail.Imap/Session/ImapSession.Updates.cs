using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>
/// The selected mailbox's changes as RFC 9051 7 reports them (EXISTS, EXPUNGE, FETCH FLAGS, RECENT, FLAGS,
/// HIGHESTMODSEQ): the store compared with the session's <see cref="SelectedMailbox"/> view, the view brought up to
/// date as each response is written.
/// </summary>
internal sealed partial class ImapSession
{
    /// <summary>
    /// Brings the client's view of the selected mailbox up to date with the store: EXPUNGE for removed messages
    /// (when allowed), FETCH for flags changed by others, EXISTS for new mail. Cheap when nothing changed: one
    /// mailbox lookup comparing UIDNEXT, HIGHESTMODSEQ and the message count. Works across processes, since
    /// deliveries and other sessions only meet in the store.
    /// </summary>
    private async Task RefreshAsync(bool allowExpunge, CancellationToken ct)
    {
        var sel = _selected;
        if (sel is null) return;
        if (_keywords.Count(_user, sel.Name, sel.UidValidity) > sel.AnnouncedKeywords.Count) WriteFlags(sel, []);
        var info = await Mailboxes.GetMailboxAsync(_user, sel.Name, ct);
        if (info is null || info.UidValidity != sel.UidValidity) return;
        if (info.UidNext == sel.UidNext && info.HighestModSeq == sel.HighestModSeq && info.MessageCount == sel.Uids.Count) return;
        if (info.UidNext == sel.UidNext && info.MessageCount == sel.Uids.Count)
        {
            // Nothing appended and nothing expunged: only flags changed. Read just the changed records (CONDSTORE index).
            foreach (var now in await Mailboxes.ListMessagesAsync(_user, sel.Name, sel.HighestModSeq, ct))
            {
                if (!sel.HoldChanged(now)) continue;
                AnnounceKeywords(now);
                _conn.WriteLine($"* {sel.SequenceOf(now.Uid)} FETCH ({FlagsAndModSeq(now, includeUid: true)})");
            }
            sel.HighestModSeq = info.HighestModSeq;
            ReportHighestModSeqIfBehind(sel);
            await _conn.MaybeFlushAsync(ct);
            return;
        }

        var current = await Mailboxes.ListMessagesAsync(_user, sel.Name, null, ct);
        var byUid = new Dictionary<long, MessageRecord>(current.Count);
        foreach (var m in current) byUid[m.Uid] = m;
        var gone = sel.IndexesMissingFrom(byUid);
        var deferred = gone.Count > 0 && !allowExpunge;
        if (!deferred)
        {
            // CONTEXT=SEARCH's REMOVEFROM comes before the expunge it reports (RFC 5267 4.3.4).
            ReportExpunging(sel, gone.Select(i => sel.Uids[i]).ToList());
            ReportExpunged(sel, gone);
        }
        for (var i = 0; i < sel.Uids.Count; i++)
        {
            if (!byUid.TryGetValue(sel.Uids[i], out var now) || !sel.HoldChanged(now)) continue;
            AnnounceKeywords(now);
            _conn.WriteLine($"* {i + 1} FETCH ({FlagsAndModSeq(now, includeUid: true)})");
        }
        if (sel.AddNew(current) > 0)
        {
            ClaimRecent(sel, info.UidNext);
            _conn.WriteLine($"* {sel.Uids.Count} EXISTS");
            WriteRecent(sel, always: true);
        }
        WriteRecent(sel, always: false);
        sel.UidNext = info.UidNext;
        // The list was read after info: with nothing deferred, every change up to its highest MODSEQ is reported now.
        if (!deferred) sel.HighestModSeq = Math.Max(info.HighestModSeq, current.Count == 0 ? 0 : current.Max(m => m.ModSeq));
        ReportHighestModSeqIfBehind(sel);
        await _conn.MaybeFlushAsync(ct);
    }

    /// <summary>
    /// A CONDSTORE/QRESYNC client may keep the highest MODSEQ it was shown in a FETCH as its HIGHESTMODSEQ and later
    /// resynchronise from it (SELECT ... QRESYNC, FETCH ... CHANGEDSINCE): then it never hears of a change below that
    /// value it was not told of, such as an expunge held back during FETCH, STORE or SEARCH (RFC 9051 7.5.1) or mail
    /// that arrived before a change it saw. RFC 7162 (errata 1810 of RFC 5162) has the server send
    /// HIGHESTMODSEQ with a value below such a change; the session's own HIGHESTMODSEQ is exactly that value.
    /// <para>Sent after every command (and refresh) while the session holds, so may have shown, a MODSEQ above that
    /// value: the client's highest-seen value restarts at each HIGHESTMODSEQ, and a later FETCH may show it again.</para>
    /// </summary>
    private void ReportHighestModSeqIfBehind(SelectedMailbox sel)
    {
        if (!_condStore || sel.HighestHeldModSeq <= sel.HighestModSeq) return;
        _conn.WriteLine($"* OK [HIGHESTMODSEQ {sel.HighestModSeq}] Highest");
    }

    private string FlagsAndModSeq(MessageRecord m, bool includeUid)
    {
        var s = $"FLAGS {FlagList(m)}";
        if (includeUid) s = $"UID {m.Uid} " + s;
        if (_condStore) s += $" MODSEQ ({m.ModSeq})";
        return s;
    }

    /// <summary>A CONDSTORE-enabling command (RFC 7162 3.1): from now on FETCH responses carry MODSEQ; the first
    /// time, a session with a mailbox selected is told its HIGHESTMODSEQ.</summary>
    private void EnableCondStore()
    {
        if (_condStore) return;
        _condStore = true;
        if (_selected is { } sel) _conn.WriteLine($"* OK [HIGHESTMODSEQ {sel.HighestModSeq}] Highest");
    }

    /// <summary>The FLAGS list of a message as this session shows it: with \Recent when it is recent here.</summary>
    private string FlagList(MessageRecord m) => _selected?.FlagList(m) ?? Wire.FlagList(m.Flags);

    /// <summary>Marks the session's messages from the first unclaimed UID up as recent: claimed for this session
    /// when it selected read-write, only seen when it examines.</summary>
    private void ClaimRecent(SelectedMailbox sel, long uidNext)
    {
        var from = sel.ReadOnly
            ? _recent.FirstRecent(_user, sel.Name, sel.UidValidity, uidNext)
            : _recent.Claim(_user, sel.Name, sel.UidValidity, uidNext);
        sel.AddRecent(from, uidNext);
    }

    /// <summary>RECENT (IMAP4rev1 only) after EXISTS, and whenever an EXPUNGE changed the count: clients keep the
    /// count they were last told, they do not work it out.</summary>
    private void WriteRecent(SelectedMailbox sel, bool always)
    {
        if (_rev2 || (!always && sel.Recent.Count == sel.ReportedRecent)) return;
        sel.ReportedRecent = sel.Recent.Count;
        _conn.WriteLine($"* {sel.ReportedRecent} RECENT");
    }

    /// <summary>Before a FETCH shows a keyword this session has not announced, FLAGS and PERMANENTFLAGS with it
    /// (RFC 3501 7.2.6: a client may reject a keyword it was not told of).</summary>
    private void AnnounceKeywords(MessageRecord m)
    {
        var sel = _selected;
        if (sel is null) return;
        foreach (var f in m.Flags)
        {
            if (f.Length > 0 && f[0] != '\\' && !sel.AnnouncedKeywords.Contains(f))
            {
                WriteFlags(sel, m.Flags);
                return;
            }
        }
    }

    /// <summary>FLAGS and PERMANENTFLAGS: the system flags and every keyword announced in this mailbox so far (by any
    /// session of this process, see <see cref="MailboxKeywords"/>) plus <paramref name="keywords"/>.</summary>
    private void WriteFlags(SelectedMailbox sel, IEnumerable<string> keywords)
    {
        foreach (var f in _keywords.Add(_user, sel.Name, sel.UidValidity, keywords)) sel.AnnouncedKeywords.Add(f);
        var flags = sel.AnnouncedKeywords.Count == 0 ? SystemFlags : SystemFlags + " " + string.Join(' ', sel.AnnouncedKeywords);
        _conn.WriteLine($"* FLAGS ({flags})");
        _conn.WriteLine(sel.ReadOnly ? "* OK [PERMANENTFLAGS ()] Read-only mailbox" : $"* OK [PERMANENTFLAGS ({flags} \\*)] Flags permitted");
    }
}
