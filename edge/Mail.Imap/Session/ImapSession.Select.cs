using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>Entering and leaving the selected state (RFC 9051 6.3.2 SELECT, 6.3.3 EXAMINE, 6.4.1 CLOSE, 6.4.2
/// UNSELECT): SELECT builds the session's <see cref="SelectedMailbox"/> view and reports it (with QRESYNC, RFC 7162,
/// what changed since the client's last view).</summary>
internal sealed partial class ImapSession
{
    private async Task<string> SelectAsync(ArgReader r, string command, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        QresyncRequest? resync = null;
        if (r.TrySpace())
        {
            r.Expect('(');
            do
            {
                var p = r.Atom().ToUpperInvariant();
                if (p == "QRESYNC") resync = ReadQresyncParameter(r);
                else if (p == "CONDSTORE") _condStore = true;
                else throw new ImapParseException($"Unknown SELECT parameter {p}");
            } while (r.TrySpace());
            r.Expect(')');
        }
        r.ExpectEnd();
        if (_selected is not null)
        {
            _selected = null;
            _state = SessionState.Authenticated;
            _conn.WriteLine("* OK [CLOSED] Previous mailbox closed");
        }
        var info = await Mailboxes.GetMailboxAsync(_user, name, ct);
        if (info is null) return "NO [NONEXISTENT] No such mailbox";
        var records = await _messageLists.GetAsync(Mailboxes, info, work => _afterReply = work, ct);
        var readOnly = command == "EXAMINE";
        var sel = new SelectedMailbox(info.Name, readOnly, info.UidValidity) { UidNext = info.UidNext, HighestModSeq = info.HighestModSeq };
        sel.Load(records);
        ClaimRecent(sel, info.UidNext);
        WriteFlags(sel, sel.Keywords());
        _conn.WriteLine($"* {sel.Uids.Count} EXISTS");
        if (!_rev2)
        {
            WriteRecent(sel, always: true);
            var firstUnseen = sel.FirstUnseen();
            if (firstUnseen > 0) _conn.WriteLine($"* OK [UNSEEN {firstUnseen}] First unseen");
        }
        _conn.WriteLine($"* OK [UIDVALIDITY {sel.UidValidity}] UIDs valid");
        _conn.WriteLine($"* OK [UIDNEXT {info.UidNext}] Predicted next UID");
        _conn.WriteLine(info.HighestModSeq > 0 ? $"* OK [HIGHESTMODSEQ {info.HighestModSeq}] Highest" : "* OK [NOMODSEQ] No modification sequences yet");
        if (_rev2) _conn.WriteLine($"* LIST () \"/\" {MailboxOnWire(info.Name)}");
        _selected = sel;
        _state = SessionState.Selected;
        if (resync is not null) await WriteResyncAsync(sel, resync, ct);
        return $"OK [{(readOnly ? "READ-ONLY" : "READ-WRITE")}] {command} completed";
    }

    private string Unselect(ArgReader r)
    {
        r.ExpectEnd();
        _selected = null;
        _state = SessionState.Authenticated;
        return "OK UNSELECT completed";
    }

    private async Task<string> CloseAsync(ArgReader r, CancellationToken ct)
    {
        r.ExpectEnd();
        var sel = _selected!;
        _selected = null;
        _state = SessionState.Authenticated;
        // CLOSE expunges silently (no EXPUNGE responses), and only when the mailbox is writable.
        if (!sel.ReadOnly) await Mailboxes.ExpungeAsync(_user, sel.Name, null, ct);
        return "OK CLOSE completed";
    }
}
