using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>FETCH and UID FETCH (RFC 9051 6.4.5, with CHANGEDSINCE and VANISHED of RFC 7162): the arguments are a
/// <see cref="FetchRequest"/>, the responses are written by <see cref="FetchSummaryWriter"/> (the sync fetch) or
/// <see cref="FetchResponseWriter"/>; this handler holds what depends on the session: CONDSTORE and QRESYNC, the
/// implied \Seen, and the keywords announced before a FETCH shows them.</summary>
internal sealed partial class ImapSession
{
    private async Task<string> FetchAsync(ArgReader r, bool uid, CancellationToken ct)
    {
        var request = FetchRequest.Parse(r);
        if (request.HasModifiers) EnableCondStore();
        // RFC 7162 3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE, once QRESYNC is enabled.
        if (request.Vanished && (!uid || request.ChangedSince is null || !_qresync)) throw new ImapParseException("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
        if (request.Asks(FetchKind.ModSeq)) EnableCondStore();
        var sel = _selected!;
        var indexes = sel.IndexesOf(request.Set, uid);
        if (request.ChangedSince is { } changedSince)
        {
            if (request.Vanished) await WriteFetchVanishedAsync(sel, request.Set, changedSince, ct);
            indexes.RemoveAll(i => sel.Records[sel.Uids[i]].ModSeq <= changedSince);
        }
        var items = request.Items;
        // With QRESYNC every FETCH response carries the UID (RFC 7162 3.2.4); with CHANGEDSINCE every one its MODSEQ.
        if ((uid || _qresync) && !request.Asks(FetchKind.Uid)) items.Insert(0, new FetchItem(FetchKind.Uid));
        if (request.ChangedSince is not null && !request.Asks(FetchKind.ModSeq)) items.Add(new FetchItem(FetchKind.ModSeq));

        var seen = request.SetsSeen && !sel.ReadOnly ? await SetSeenAsync(sel, indexes, ct) : [];
        if (seen.Count == 0 && request.OnlySummary)
        {
            await new FetchSummaryWriter(_conn, _services.Messages, _envelopes, _diskCache, sel, Utf8Names).WriteAsync(indexes, items, AnnounceKeywords, ct);
            return uid ? "OK UID FETCH completed" : "OK FETCH completed";
        }
        var writer = new FetchResponseWriter(_conn, _services.Messages, sel, _diskCache, Utf8Names);
        var flags = request.Asks(FetchKind.Flags);
        for (var n = 0; n < indexes.Count; n++)
        {
            // Structures from the on-disk cache: one query per 64 messages.
            if (n % 64 == 0) writer.PrefetchStructures(indexes.Skip(n).Take(64).Select(i => sel.Records[sel.Uids[i]]), items);
            var record = sel.Records[sel.Uids[indexes[n]]];
            var flagsChanged = seen.Contains(record.Uid);
            if (flagsChanged || flags) AnnounceKeywords(record);
            await writer.WriteAsync(indexes[n] + 1, record, items, flagsChanged, ct);
            await _conn.MaybeFlushAsync(ct);
        }
        return uid ? "OK UID FETCH completed" : "OK FETCH completed";
    }

    /// <summary>A non-PEEK body fetch sets \Seen (RFC 9051 6.4.5): done up front, in one store call, for the messages
    /// that lack it; returns the UIDs whose flags changed (their responses then show FLAGS).</summary>
    private async Task<HashSet<long>> SetSeenAsync(SelectedMailbox sel, List<int> indexes, CancellationToken ct)
    {
        var changed = new HashSet<long>();
        var unseen = indexes.Select(i => sel.Uids[i]).Where(u => !HasFlag(sel.Records[u], MessageFlags.Seen)).ToList();
        if (unseen.Count == 0) return changed;
        var result = await Mailboxes.StoreFlagsAsync(_user, sel.Name, unseen, FlagChange.Add, [MessageFlags.Seen], null, ct);
        foreach (var c in result.Changed)
        {
            sel.Put(c);
            changed.Add(c.Uid);
        }
        return changed;
    }
}
