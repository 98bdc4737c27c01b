using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Imap.Session;

/// <summary>Search keys (RFC 9051 6.4.4, with MODSEQ of RFC 7162 and "$" of RFC 5182) parsed into a program of
/// predicates, and its matching against the selected mailbox; SEARCH, SORT, THREAD and the updating contexts use it.</summary>
internal sealed partial class ImapSession
{
    /// <summary>What a search key sees of one message; content is loaded only when a key needs it.</summary>
    private sealed class SearchContext(int seq, MessageAccess access)
    {
        public int Seq { get; } = seq;
        public MessageAccess Access { get; } = access;
        public MessageRecord Record => Access.Record;
        private HeaderList? _headers;

        public async Task<HeaderList> HeadersAsync(CancellationToken ct) => _headers ??= HeaderBlock.Parse(await Access.HeaderAsync(ct));
    }

    private delegate ValueTask<bool> SearchKey(SearchContext c, CancellationToken ct);

    /// <summary>The search keys of a command, kept so that an updating context (RFC 5267) can match messages again
    /// later; whether a key named MODSEQ.</summary>
    private sealed record SearchProgram(List<SearchKey> Keys, bool UsesModSeq);

    /// <summary>Reads the search keys to the end of the command and returns the messages matching all of them, in
    /// sequence order; whether a key named MODSEQ (which enables CONDSTORE).</summary>
    private async Task<(List<(int Seq, MessageRecord Record)> Matches, bool UsesModSeq)> MatchAsync(ArgReader r, CancellationToken ct)
    {
        var program = ParseSearchProgram(r);
        return (await MatchAsync(program, ct), program.UsesModSeq);
    }

    private SearchProgram ParseSearchProgram(ArgReader r)
    {
        var usesModSeq = false;
        var keys = new List<SearchKey>();
        do keys.Add(ParseSearchKey(r, ref usesModSeq)); while (r.TrySpace());
        r.ExpectEnd();
        if (usesModSeq) EnableCondStore();
        return new SearchProgram(keys, usesModSeq);
    }

    private async Task<List<(int Seq, MessageRecord Record)>> MatchAsync(SearchProgram program, CancellationToken ct)
    {
        var sel = _selected!;
        var matches = new List<(int Seq, MessageRecord Record)>();
        for (var i = 0; i < sel.Uids.Count; i++)
        {
            var record = sel.Records[sel.Uids[i]];
            if (await MatchesAsync(program, i + 1, record, ct)) matches.Add((i + 1, record));
        }
        return matches;
    }

    /// <summary>Whether the message <paramref name="record"/> at sequence number <paramref name="seq"/> matches every key.</summary>
    private async Task<bool> MatchesAsync(SearchProgram program, int seq, MessageRecord record, CancellationToken ct)
    {
        using var access = new MessageAccess(_services.Messages, record);
        var ctx = new SearchContext(seq, access);
        foreach (var k in program.Keys)
        {
            if (!await k(ctx, ct)) return false;
        }
        return true;
    }

    /// <summary>"$" as a search key: the result saved before this command (RFC 5182), the same for seq and UID.</summary>
    private SearchKey SavedResult()
    {
        var saved = _selected!.SearchResult;
        return (c, _) => ValueTask.FromResult(saved.Contains(c.Record.Uid));
    }

    private SearchKey ParseSearchKey(ArgReader r, ref bool usesModSeq)
    {
        if (r.TryChar('('))
        {
            var inner = new List<SearchKey>();
            do inner.Add(ParseSearchKey(r, ref usesModSeq)); while (r.TrySpace());
            r.Expect(')');
            return async (c, ct) =>
            {
                foreach (var k in inner) if (!await k(c, ct)) return false;
                return true;
            };
        }
        if (char.IsAsciiDigit(r.Peek) || r.Peek is '*' or '$')
        {
            var set = SequenceSet.Parse(r.SequenceSetText());
            if (set.IsSearchResult) return SavedResult();
            var count = _selected!.Uids.Count;
            return (c, _) => ValueTask.FromResult(set.Contains(c.Seq, count));
        }
        var key = r.Atom().ToUpperInvariant();
        switch (key)
        {
            case "ALL": return (_, _) => ValueTask.FromResult(true);
            case "ANSWERED": return Flag(MessageFlags.Answered, true);
            case "DELETED": return Flag(MessageFlags.Deleted, true);
            case "DRAFT": return Flag(MessageFlags.Draft, true);
            case "FLAGGED": return Flag(MessageFlags.Flagged, true);
            case "SEEN": return Flag(MessageFlags.Seen, true);
            case "UNANSWERED": return Flag(MessageFlags.Answered, false);
            case "UNDELETED": return Flag(MessageFlags.Deleted, false);
            case "UNDRAFT": return Flag(MessageFlags.Draft, false);
            case "UNFLAGGED": return Flag(MessageFlags.Flagged, false);
            case "UNSEEN": return Flag(MessageFlags.Seen, false);
            case "RECENT": return Recent(true);
            case "OLD": return Recent(false);
            case "NEW":
                {
                    var recent = Recent(true);
                    var unseen = Flag(MessageFlags.Seen, false);
                    return async (c, ct) => await recent(c, ct) && await unseen(c, ct);
                }
            case "KEYWORD" or "UNKEYWORD":
                {
                    r.Space();
                    var kw = r.Flag();
                    return Flag(kw, key == "KEYWORD");
                }
            case "BCC" or "CC" or "FROM" or "TO" or "SUBJECT":
                {
                    r.Space();
                    var value = r.AString();
                    var field = key switch { "BCC" => "Bcc", "CC" => "Cc", "FROM" => "From", "TO" => "To", _ => "Subject" };
                    return key == "SUBJECT" ? HeaderContains(field, value) : AddressContains(field, value);
                }
            case "HEADER":
                {
                    r.Space();
                    var field = r.AString();
                    r.Space();
                    var value = r.AString();
                    return HeaderContains(field, value);
                }
            case "BODY" or "TEXT":
                {
                    r.Space();
                    var value = r.AString();
                    var text = key == "TEXT";
                    return async (c, ct) => await BodyContainsAsync(c, value, text, ct);
                }
            case "BEFORE" or "ON" or "SINCE" or "SENTBEFORE" or "SENTON" or "SENTSINCE":
                {
                    r.Space();
                    var s = r.AString();
                    if (!ImapDate.TryParseDate(s, out var date)) throw new ImapParseException($"Bad date \"{s}\"");
                    var sent = key.StartsWith("SENT", StringComparison.Ordinal);
                    var cmp = key.EndsWith("BEFORE", StringComparison.Ordinal) ? -1 : key.EndsWith("ON", StringComparison.Ordinal) ? 0 : 1;
                    return async (c, ct) =>
                    {
                        DateTime day;
                        if (sent)
                        {
                            var h = await c.HeadersAsync(ct);
                            var raw = h[HeaderId.Date];
                            if (raw is null || !DateUtils.TryParse(raw, out var d)) return false;
                            day = d.Date;
                        }
                        else day = c.Record.InternalDate.Date;
                        return cmp switch { -1 => day < date, 0 => day == date, _ => day >= date };
                    };
                }
            case "LARGER" or "SMALLER":
                {
                    r.Space();
                    var n = r.Number();
                    var larger = key == "LARGER";
                    return (c, _) => ValueTask.FromResult(larger ? c.Record.Size > n : c.Record.Size < n);
                }
            case "UID":
                {
                    r.Space();
                    var set = SequenceSet.Parse(r.SequenceSetText());
                    if (set.IsSearchResult) return SavedResult();
                    var max = _selected!.MaxUid;
                    return (c, _) => ValueTask.FromResult(set.Contains(c.Record.Uid, max));
                }
            case "NOT":
                {
                    r.Space();
                    var inner = ParseSearchKey(r, ref usesModSeq);
                    return async (c, ct) => !await inner(c, ct);
                }
            case "OR":
                {
                    r.Space();
                    var a = ParseSearchKey(r, ref usesModSeq);
                    r.Space();
                    var b = ParseSearchKey(r, ref usesModSeq);
                    return async (c, ct) => await a(c, ct) || await b(c, ct);
                }
            case "MODSEQ":
                {
                    r.Space();
                    if (r.Peek == '"')
                    {
                        // entry-name entry-type-req: per-flag MODSEQs are not kept; the message MODSEQ answers for all.
                        r.Quoted();
                        r.Space();
                        r.Atom();
                        r.Space();
                    }
                    var n = r.Number();
                    usesModSeq = true;
                    return (c, _) => ValueTask.FromResult(c.Record.ModSeq >= n);
                }
            default:
                throw new ImapParseException($"Unknown SEARCH key {key}");
        }
    }

    private SearchKey Recent(bool recent)
    {
        var sel = _selected!;
        return (c, _) => ValueTask.FromResult(sel.IsRecent(c.Record.Uid) == recent);
    }

    private static SearchKey Flag(string flag, bool present) =>
        (c, _) => ValueTask.FromResult(HasFlag(c.Record, flag) == present);

    private static SearchKey HeaderContains(string field, string value) => async (c, ct) =>
    {
        var headers = await c.HeadersAsync(ct);
        foreach (var h in headers)
        {
            if (!h.Field.Equals(field, StringComparison.OrdinalIgnoreCase)) continue;
            if (value.Length == 0) return true; // HEADER name "" matches any message with that field
            if (h.Value.Contains(value, StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    };

    /// <summary>FROM, TO, CC, BCC: the header as written, or any address in it as parsed (comments and folding
    /// whitespace removed: "user (comment)@ (comment) domain" is user@domain).</summary>
    private static SearchKey AddressContains(string field, string value)
    {
        var raw = HeaderContains(field, value);
        return async (c, ct) =>
        {
            if (await raw(c, ct)) return true;
            foreach (var h in await c.HeadersAsync(ct))
            {
                if (!h.Field.Equals(field, StringComparison.OrdinalIgnoreCase)) continue;
                if (!InternetAddressList.TryParse(ParserOptions.Default, h.RawValue, out var list)) continue;
                foreach (var mailbox in list.Mailboxes)
                {
                    if (mailbox.Address.Contains(value, StringComparison.OrdinalIgnoreCase)) return true;
                    if (mailbox.Name is { Length: > 0 } name && $"{name} <{mailbox.Address}>".Contains(value, StringComparison.OrdinalIgnoreCase)) return true;
                }
            }
            return false;
        };
    }

    private static async ValueTask<bool> BodyContainsAsync(SearchContext c, string value, bool includeHeaders, CancellationToken ct)
    {
        if (includeHeaders)
        {
            var headers = await c.HeadersAsync(ct);
            if (headers.Any(h => h.Value.Contains(value, StringComparison.OrdinalIgnoreCase))) return true;
        }
        var pm = await c.Access.ParsedAsync(ct);
        return EntityContains(pm.Message.Body, value, includeHeaders);
    }

    /// <summary>Decoded text of every text part, descending into attached messages (and their headers for TEXT).</summary>
    private static bool EntityContains(MimeEntity? entity, string value, bool includeHeaders)
    {
        switch (entity)
        {
            case Multipart mp:
                return mp.Any(child => EntityContains(child, value, includeHeaders));
            case MessagePart { Message: { } inner }:
                if (includeHeaders && inner.Headers.Any(h => h.Value.Contains(value, StringComparison.OrdinalIgnoreCase))) return true;
                return EntityContains(inner.Body, value, includeHeaders);
            case TextPart tp:
                return tp.Text?.Contains(value, StringComparison.OrdinalIgnoreCase) == true;
            default:
                return false;
        }
    }
}
