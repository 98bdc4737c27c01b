using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Imap.Session;

/// <summary>SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267).</summary>
internal sealed partial class ImapSession
{
    private async Task<string> SortAsync(ArgReader r, bool uid, string tag, CancellationToken ct)
    {
        r.Space();
        var returns = ReadReturnOptions(r, "SORT", out var partial);
        var update = TakeContextOptions(returns, tag);
        var order = SortOrder.Read(r);
        r.Space();
        var charset = r.AString();
        r.Space();
        if (!KnownCharset(charset)) return "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset";
        var program = ParseSearchProgram(r);
        var matches = await MatchAsync(program, ct);

        var keyed = new List<(int Seq, MessageRecord Record, object[] Keys)>(matches.Count);
        foreach (var (seq, record) in matches) keyed.Add((seq, record, await order.ValuesAsync(_services.Messages, record, ct)));
        keyed.Sort((a, b) =>
        {
            var c = order.Compare(a.Keys, b.Keys);
            return c != 0 ? c : a.Seq.CompareTo(b.Seq); // RFC 5256: ties go in sequence order
        });
        if (update) StartUpdates(tag, uid, program, order, keyed.Select(m => m.Record).ToList(), keyed.Select(m => m.Keys).ToList());
        var numbers = keyed.Select(m => uid ? m.Record.Uid : m.Seq).ToList();
        if (returns is null)
        {
            _conn.WriteLine(numbers.Count == 0 ? "* SORT" : "* SORT " + string.Join(' ', numbers));
        }
        else
        {
            _conn.WriteLine(EsearchResponse.Format(tag, uid, returns, numbers, partial, modSeq: null));
        }
        return uid ? "OK UID SORT completed" : "OK SORT completed";
    }

    /// <summary>THREAD algorithm charset search-keys (RFC 5256): ORDEREDSUBJECT or REFERENCES.</summary>
    private async Task<string> ThreadAsync(ArgReader r, bool uid, CancellationToken ct)
    {
        r.Space();
        var algorithm = r.Atom().ToUpperInvariant();
        if (algorithm is not ("ORDEREDSUBJECT" or "REFERENCES")) throw new ImapParseException($"Unknown THREAD algorithm {algorithm}");
        r.Space();
        var charset = r.AString();
        r.Space();
        if (!KnownCharset(charset)) return "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset";
        var matches = await MatchAsync(r, ct);
        var messages = new List<ThreadMessage>(matches.Count);
        foreach (var (seq, record) in matches)
        {
            using var access = new MessageAccess(_services.Messages, record);
            var headers = HeaderBlock.Parse(await access.HeaderAsync(ct));
            var sent = headers[HeaderId.Date] is { } date && DateUtils.TryParse(date, out var d) ? d : record.InternalDate;
            var messageId = headers[HeaderId.MessageId] is { } mid ? MimeUtils.EnumerateReferences(mid).FirstOrDefault() : null;
            List<string> references = headers[HeaderId.References] is { } refs ? [.. MimeUtils.EnumerateReferences(refs)] : [];
            if (references.Count == 0 && headers[HeaderId.InReplyTo] is { } inReplyTo && MimeUtils.EnumerateReferences(inReplyTo).FirstOrDefault() is { } parent)
                references.Add(parent);
            messages.Add(new ThreadMessage(uid ? record.Uid : seq, seq, messageId, references, sent, headers[HeaderId.Subject]));
        }
        var threads = algorithm == "REFERENCES" ? Threading.References(messages) : Threading.OrderedSubject(messages);
        _conn.WriteLine(threads.Length == 0 ? "* THREAD" : "* THREAD " + threads);
        return uid ? "OK UID THREAD completed" : "OK THREAD completed";
    }
}
