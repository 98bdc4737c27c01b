using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

internal sealed partial class ImapSession
{
    private async Task<string> StoreAsync(ArgReader r, bool uid, CancellationToken ct)
    {
        r.Space();
        var set = SequenceSet.Parse(r.SequenceSetText());
        r.Space();
        long? unchangedSince = null;
        if (r.TryChar('('))
        {
            if (!r.TryAtom("UNCHANGEDSINCE")) throw new ImapParseException("Unknown STORE modifier");
            r.Space();
            unchangedSince = r.Number();
            r.Expect(')');
            r.Space();
            EnableCondStore();
        }
        var sign = r.TryChar('+') ? "+" : r.TryChar('-') ? "-" : "";
        var op = r.Word().ToUpperInvariant();
        if (op is not ("FLAGS" or "FLAGS.SILENT")) throw new ImapParseException($"Expected FLAGS, +FLAGS or -FLAGS, not {sign}{op}");
        var change = sign switch { "+" => FlagChange.Add, "-" => FlagChange.Remove, _ => FlagChange.Replace };
        return await StoreFlagsAsync(r, set, uid, change, op.EndsWith(".SILENT", StringComparison.Ordinal), unchangedSince, ct);
    }
    private async Task<string> StoreFlagsAsync(ArgReader r, SequenceSet set, bool uid, FlagChange change, bool silent, long? unchangedSince, CancellationToken ct)
    {
        r.Space();
        var flags = r.FlagList(allowBare: true);
        while (r.TrySpace()) flags.AddRange(r.FlagList(allowBare: true));
        r.ExpectEnd();
        ValidateFlags(flags);
        var sel = _selected!;
        if (sel.ReadOnly) return "NO [READ-ONLY] Mailbox is read-only (EXAMINE)";
        var indexes = sel.IndexesOf(set, uid);
        if (indexes.Count == 0) return "OK STORE completed (no messages)";
        var uids = indexes.Select(i => sel.Uids[i]).ToList();
        var result = await Mailboxes.StoreFlagsAsync(_user, sel.Name, uids, change, flags, unchangedSince, ct);
        foreach (var c in result.Changed) sel.Put(c);
        var failed = result.Failed.ToHashSet();
        if (!silent && result.Changed.Count + failed.Count < uids.Count)
        {
            // Messages this STORE left unchanged may have been changed by another session since this one last
            // looked: answer with their flags as they are now, not as the session last reported them.
            var asked = uids.ToHashSet();
            foreach (var now in await Mailboxes.ListMessagesAsync(_user, sel.Name, sel.HighestModSeq, ct))
                if (asked.Contains(now.Uid) && sel.Records.ContainsKey(now.Uid)) sel.Put(now);
        }
        if (!silent || unchangedSince is not null)
        {
            var changed = result.Changed.Select(c => c.Uid).ToHashSet();
            foreach (var u in uids)
            {
                if (failed.Contains(u)) continue;
                // .SILENT with UNCHANGEDSINCE still reports the new MODSEQ of what changed (RFC 7162 3.1.3).
                if (silent && !changed.Contains(u)) continue;
                var m = sel.Records[u];
                if (!silent) AnnounceKeywords(m);
                var body = silent ? $"MODSEQ ({m.ModSeq})" : FlagsAndModSeq(m, includeUid: false);
                if (uid || _qresync) body = $"UID {u} {body}";
                _conn.WriteLine($"* {sel.SequenceOf(u)} FETCH ({body})");
            }
        }
        if (failed.Count > 0)
        {
            var numbers = uid ? failed.OrderBy(u => u) : failed.Select(u => (long)sel.SequenceOf(u)).Where(s => s > 0).OrderBy(s => s);
            return $"OK [MODIFIED {SequenceSet.Format(numbers)}] Conditional STORE failed for some messages";
        }
        return uid ? "OK UID STORE completed" : "OK STORE completed";
    }

    private async Task<string> CopyAsync(ArgReader r, bool uid, bool move, CancellationToken ct)
    {
        var command = (uid ? "UID " : "") + (move ? "MOVE" : "COPY");
        r.Space();
        var set = SequenceSet.Parse(r.SequenceSetText());
        r.Space();
        var destination = ReadMailboxName(r);
        r.ExpectEnd();
        var sel = _selected!;
        if (move && sel.ReadOnly) return "NO [READ-ONLY] Mailbox is read-only (EXAMINE)";
        var indexes = sel.IndexesOf(set, uid);
        var target = await Mailboxes.GetMailboxAsync(_user, destination, ct);
        if (target is null) return "NO [TRYCREATE] No such mailbox";
        if (indexes.Count == 0) return $"OK {command} completed (no messages)";
        var uids = indexes.Select(i => sel.Uids[i]).ToList();
        if (!move && await OverQuotaAsync(uids.Sum(u => sel.Records.TryGetValue(u, out var m) ? m.Size : 0), ct) is { } overQuota) return overQuota;
        _recent.Observe(_user, target.Name, target.UidValidity, target.UidNext);
        var result = move
            ? await Mailboxes.MoveAsync(_user, sel.Name, uids, target.Name, ct)
            : await Mailboxes.CopyAsync(_user, sel.Name, uids, target.Name, ct);
        var map = result.UidMap.OrderBy(p => p.SourceUid).ToList();
        var copyUid = map.Count == 0 ? "" :
            $"[COPYUID {result.DestinationUidValidity} {string.Join(',', map.Select(p => p.SourceUid))} {string.Join(',', map.Select(p => p.DestinationUid))}] ";
        if (!move) return $"OK {copyUid}{command} completed";
        _conn.WriteLine($"* OK {copyUid}Moved");
        WriteExpunges(sel, map.Select(p => p.SourceUid));
        return $"OK {command} completed";
    }

    /// <summary>Removes UIDs from the session's view, answering EXPUNGE (or VANISHED) for them.</summary>
    private void WriteExpunges(SelectedMailbox sel, IEnumerable<long> uids)
    {
        ReportExpunging(sel, uids);
        ReportExpunged(sel, uids.Select(sel.SequenceOf).Where(s => s > 0).Select(s => s - 1).ToList());
        WriteRecent(sel, always: false);
    }

    private async Task<string> ExpungeAsync(ArgReader r, bool uid, CancellationToken ct)
    {
        List<long>? only = null;
        var sel = _selected!;
        if (uid)
        {
            r.Space();
            var set = SequenceSet.Parse(r.SequenceSetText());
            only = sel.IndexesOf(set, uid: true).Select(i => sel.Uids[i]).ToList();
        }
        r.ExpectEnd();
        if (sel.ReadOnly) return "NO [READ-ONLY] Mailbox is read-only (EXAMINE)";
        if (only is { Count: 0 }) return "OK UID EXPUNGE completed (no messages)";
        var removed = await Mailboxes.ExpungeAsync(_user, sel.Name, only, ct);
        WriteExpunges(sel, removed);
        return await ExpungeCompletionAsync(sel, uid ? "UID EXPUNGE completed" : "EXPUNGE completed", ct);
    }
}
