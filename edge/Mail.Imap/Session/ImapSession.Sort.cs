using System.Text;
using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Imap.Session;

/// <summary>SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and ESORT (RFC 5267).</summary>
internal sealed partial class ImapSession
{
    private enum SortKey { Arrival, Cc, Date, From, Size, Subject, To, DisplayFrom, DisplayTo }

    private readonly record struct SortCriterion(SortKey Key, bool Reverse);

    private async Task<string> SortAsync(ArgReader r, bool uid, string tag, CancellationToken ct)
    {
        r.Space();
        var returns = ReadReturnOptions(r, "SORT", out var partial);
        var update = TakeContextOptions(returns, tag);
        var criteria = ReadSortCriteria(r);
        r.Space();
        var charset = r.AString();
        r.Space();
        if (!KnownCharset(charset)) return "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset";
        var program = ParseSearchProgram(r);
        var matches = await MatchAsync(program, ct);

        var keyed = new List<(int Seq, MessageRecord Record, object[] Keys)>(matches.Count);
        foreach (var (seq, record) in matches) keyed.Add((seq, record, await SortValuesAsync(criteria, record, ct)));
        keyed.Sort((a, b) =>
        {
            var c = CompareSortValues(criteria, a.Keys, b.Keys);
            return c != 0 ? c : a.Seq.CompareTo(b.Seq); // RFC 5256: ties go in sequence order
        });
        if (update) StartUpdates(tag, uid, program, criteria, keyed.Select(m => m.Record).ToList(), keyed.Select(m => m.Keys).ToList());
        var numbers = keyed.Select(m => uid ? m.Record.Uid : m.Seq).ToList();
        if (returns is null)
        {
            _conn.WriteLine(numbers.Count == 0 ? "* SORT" : "* SORT " + string.Join(' ', numbers));
        }
        else
        {
            var sb = new StringBuilder($"* ESEARCH (TAG {Wire.String(tag, false)})");
            if (uid) sb.Append(" UID");
            if (numbers.Count > 0)
            {
                // RFC 5267 3.2: MIN and MAX are the first and last of the sorted result; ALL keeps its order.
                if (returns.Contains("MIN")) sb.Append(" MIN ").Append(numbers[0]);
                if (returns.Contains("MAX")) sb.Append(" MAX ").Append(numbers[^1]);
                if (returns.Contains("ALL")) sb.Append(" ALL ").Append(OrderedSet(numbers));
            }
            if (partial is { } p) sb.Append(p.Format(p.Window(numbers), sorted: true));
            if (returns.Contains("COUNT")) sb.Append(" COUNT ").Append(numbers.Count);
            _conn.WriteLine(sb.ToString());
        }
        return uid ? "OK UID SORT completed" : "OK SORT completed";
    }

    /// <summary>The values a message sorts by, one per criterion.</summary>
    private async Task<object[]> SortValuesAsync(List<SortCriterion> criteria, MessageRecord record, CancellationToken ct)
    {
        using var access = new MessageAccess(_services.Messages, record);
        HeaderList? headers = null;
        var keys = new object[criteria.Count];
        for (var k = 0; k < criteria.Count; k++)
        {
            if (criteria[k].Key is not (SortKey.Arrival or SortKey.Size)) headers ??= HeaderBlock.Parse(await access.HeaderAsync(ct));
            keys[k] = SortValue(criteria[k].Key, record, headers);
        }
        return keys;
    }

    /// <summary>Orders two messages by their sort values; 0 when every criterion ties.</summary>
    private static int CompareSortValues(List<SortCriterion> criteria, object[] a, object[] b)
    {
        for (var k = 0; k < criteria.Count; k++)
        {
            var c = a[k] switch
            {
                string s => string.CompareOrdinal(s, (string)b[k]),
                long n => n.CompareTo((long)b[k]),
                _ => 0,
            };
            if (c != 0) return criteria[k].Reverse ? -c : c;
        }
        return 0;
    }

    private static List<SortCriterion> ReadSortCriteria(ArgReader r)
    {
        r.Expect('(');
        var criteria = new List<SortCriterion>();
        do
        {
            var reverse = false;
            var word = r.Atom().ToUpperInvariant();
            if (word == "REVERSE")
            {
                reverse = true;
                r.Space();
                word = r.Atom().ToUpperInvariant();
            }
            var key = word switch
            {
                "ARRIVAL" => SortKey.Arrival,
                "CC" => SortKey.Cc,
                "DATE" => SortKey.Date,
                "FROM" => SortKey.From,
                "SIZE" => SortKey.Size,
                "SUBJECT" => SortKey.Subject,
                "TO" => SortKey.To,
                "DISPLAYFROM" => SortKey.DisplayFrom,
                "DISPLAYTO" => SortKey.DisplayTo,
                _ => throw new ImapParseException($"Unknown SORT key {word}"),
            };
            criteria.Add(new SortCriterion(key, reverse));
        } while (r.TrySpace());
        r.Expect(')');
        return criteria;
    }

    /// <summary>The value a message sorts by: a number (dates as Unix milliseconds) or an i;ascii-casemap string.</summary>
    private static object SortValue(SortKey key, MessageRecord record, HeaderList? headers) => key switch
    {
        SortKey.Arrival => record.InternalDate.ToUnixTimeMilliseconds(),
        SortKey.Size => record.Size,
        // The sent date in UTC; the arrival date when the Date field is missing or unreadable.
        SortKey.Date => headers![HeaderId.Date] is { } date && DateUtils.TryParse(date, out var sent)
            ? sent.ToUnixTimeMilliseconds()
            : record.InternalDate.ToUnixTimeMilliseconds(),
        SortKey.Subject => BaseSubject.SortKey(headers![HeaderId.Subject]),
        SortKey.From => BaseSubject.AsciiUpper(AddrMailbox(FirstAddress(headers!, HeaderId.From))),
        SortKey.To => BaseSubject.AsciiUpper(AddrMailbox(FirstAddress(headers!, HeaderId.To))),
        SortKey.Cc => BaseSubject.AsciiUpper(AddrMailbox(FirstAddress(headers!, HeaderId.Cc))),
        SortKey.DisplayFrom => BaseSubject.AsciiUpper(DisplayName(FirstAddress(headers!, HeaderId.From))),
        SortKey.DisplayTo => BaseSubject.AsciiUpper(DisplayName(FirstAddress(headers!, HeaderId.To))),
        _ => 0L,
    };

    /// <summary>The first address of the field as ENVELOPE lists it: a group counts as its start (the group name).</summary>
    private static InternetAddress? FirstAddress(HeaderList headers, HeaderId id)
    {
        var i = headers.IndexOf(id);
        if (i < 0 || !InternetAddressList.TryParse(ParserOptions.Default, headers[i].RawValue, out var list)) return null;
        return list.FirstOrDefault();
    }

    /// <summary>RFC 5256: the addr-mailbox (local part) of the first address; for a group, its name.</summary>
    private static string AddrMailbox(InternetAddress? address) => address switch
    {
        MailboxAddress m => m.LocalPart,
        GroupAddress g => g.Name ?? "",
        _ => "",
    };

    /// <summary>RFC 5957: the display name, else the address itself; for a group, its name.</summary>
    private static string DisplayName(InternetAddress? address) => address switch
    {
        MailboxAddress m => !string.IsNullOrWhiteSpace(m.Name) ? m.Name : m.Address,
        GroupAddress g => g.Name ?? "",
        _ => "",
    };

    /// <summary>Numbers in the given order, runs of consecutive ascending numbers written as ranges.</summary>
    private static string OrderedSet(IReadOnlyList<long> numbers)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < numbers.Count;)
        {
            var j = i;
            while (j + 1 < numbers.Count && numbers[j + 1] == numbers[j] + 1) j++;
            if (sb.Length > 0) sb.Append(',');
            sb.Append(numbers[i]);
            if (j > i) sb.Append(':').Append(numbers[j]);
            i = j + 1;
        }
        return sb.ToString();
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
        var (matches, _) = await MatchAsync(r, ct);
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
