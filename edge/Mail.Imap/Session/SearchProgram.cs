using Mail.Core.Messages;
using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Imap.Session;

/// <summary>
/// The search keys of a SEARCH, SORT or THREAD (RFC 9051 6.4.4, with MODSEQ of RFC 7162 and "$" of RFC 5182), parsed
/// into predicates and matched against messages of the selected mailbox. Kept whole so that an updating context
/// (RFC 5267) can match messages again later. Sequence numbers, \Recent and "$" are those of the mailbox view when
/// the keys were read.
/// </summary>
internal sealed class SearchProgram
{
    /// <summary>What a search key sees of one message; content is loaded only when a key needs it.</summary>
    private sealed class Candidate(int seq, MessageAccess access)
    {
        public int Seq { get; } = seq;
        public MessageAccess Access { get; } = access;
        public MessageRecord Record => Access.Record;
        private HeaderList? _headers;

        public async Task<HeaderList> HeadersAsync(CancellationToken ct) => _headers ??= HeaderBlock.Parse(await Access.HeaderAsync(ct));
    }

    private delegate ValueTask<bool> SearchKey(Candidate c, CancellationToken ct);

    private readonly List<SearchKey> _keys;

    private SearchProgram(List<SearchKey> keys, bool usesModSeq)
    {
        _keys = keys;
        UsesModSeq = usesModSeq;
    }

    /// <summary>Whether a key named MODSEQ (which makes the command CONDSTORE-enabling, RFC 7162 3.1.5).</summary>
    public bool UsesModSeq { get; }

    /// <summary>Reads the search keys to the end of the command.</summary>
    public static SearchProgram Parse(ArgReader r, SelectedMailbox mailbox)
    {
        var parser = new Parser(mailbox);
        var keys = new List<SearchKey>();
        do keys.Add(parser.Key(r)); while (r.TrySpace());
        r.ExpectEnd();
        return new SearchProgram(keys, parser.UsesModSeq);
    }

    /// <summary>The messages of <paramref name="mailbox"/> matching every key, in sequence order.</summary>
    public async Task<List<(int Seq, MessageRecord Record)>> MatchAsync(IMessageStore messages, SelectedMailbox mailbox, CancellationToken ct)
    {
        var matches = new List<(int Seq, MessageRecord Record)>();
        for (var i = 0; i < mailbox.Uids.Count; i++)
        {
            var record = mailbox.Records[mailbox.Uids[i]];
            if (await MatchesAsync(messages, i + 1, record, ct)) matches.Add((i + 1, record));
        }
        return matches;
    }

    /// <summary>Whether the message <paramref name="record"/> at sequence number <paramref name="seq"/> matches every key.</summary>
    public async Task<bool> MatchesAsync(IMessageStore messages, int seq, MessageRecord record, CancellationToken ct)
    {
        using var access = new MessageAccess(messages, record);
        var candidate = new Candidate(seq, access);
        foreach (var k in _keys)
        {
            if (!await k(candidate, ct)) return false;
        }
        return true;
    }

    private static bool HasFlag(MessageRecord m, string flag) => m.Flags.Contains(flag, StringComparer.OrdinalIgnoreCase);

    /// <summary>The search-key grammar (RFC 9051 9); holds the view the keys refer to, and whether MODSEQ was named.</summary>
    private sealed class Parser(SelectedMailbox mailbox)
    {
        public bool UsesModSeq { get; private set; }

        public SearchKey Key(ArgReader r)
        {
            if (r.TryChar('('))
            {
                var inner = new List<SearchKey>();
                do inner.Add(Key(r)); while (r.TrySpace());
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
                var count = mailbox.Uids.Count;
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
                    return DateKey(r, key);
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
                        var max = mailbox.MaxUid;
                        return (c, _) => ValueTask.FromResult(set.Contains(c.Record.Uid, max));
                    }
                case "NOT":
                    {
                        r.Space();
                        var inner = Key(r);
                        return async (c, ct) => !await inner(c, ct);
                    }
                case "OR":
                    {
                        r.Space();
                        var a = Key(r);
                        r.Space();
                        var b = Key(r);
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
                        UsesModSeq = true;
                        return (c, _) => ValueTask.FromResult(c.Record.ModSeq >= n);
                    }
                default:
                    throw new ImapParseException($"Unknown SEARCH key {key}");
            }
        }

        /// <summary>"$" as a search key: the result saved before this command (RFC 5182), the same for seq and UID.</summary>
        private SearchKey SavedResult()
        {
            var saved = mailbox.SearchResult;
            return (c, _) => ValueTask.FromResult(saved.Contains(c.Record.Uid));
        }

        private SearchKey Recent(bool recent) => (c, _) => ValueTask.FromResult(mailbox.IsRecent(c.Record.Uid) == recent);

        /// <summary>BEFORE, ON, SINCE compare the internal date; SENTBEFORE, SENTON, SENTSINCE the Date field's day
        /// (a message without a readable Date matches none of them).</summary>
        private static SearchKey DateKey(ArgReader r, string key)
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

    private static async ValueTask<bool> BodyContainsAsync(Candidate c, string value, bool includeHeaders, CancellationToken ct)
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
