using Mail.Core.Messages;
using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Imap.Session;

/// <summary>The sort keys of RFC 5256 and SORT=DISPLAY (RFC 5957).</summary>
internal enum SortKey { Arrival, Cc, Date, From, Size, Subject, To, DisplayFrom, DisplayTo }

internal readonly record struct SortCriterion(SortKey Key, bool Reverse);

/// <summary>
/// The sort criteria of a SORT command (RFC 5256 <c>sort-criteria</c>): each message's sort values, read once from its
/// record and header (a message never changes but for its flags, so an updating context keeps them), and the order of
/// two messages by them. Ties are the caller's to break (RFC 5256: in sequence order).
/// </summary>
internal sealed class SortOrder
{
    private SortOrder(List<SortCriterion> criteria) => Criteria = criteria;

    public IReadOnlyList<SortCriterion> Criteria { get; }

    /// <summary><c>"(" sort-criterion *(SP sort-criterion) ")"</c>, each <c>["REVERSE" SP] sort-key</c>.</summary>
    public static SortOrder Read(ArgReader r)
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
        return new SortOrder(criteria);
    }

    /// <summary>The values a message sorts by, one per criterion; the header is read only when a criterion needs it.</summary>
    public async Task<object[]> ValuesAsync(IMessageStore messages, MessageRecord record, CancellationToken ct)
    {
        using var access = new MessageAccess(messages, record);
        HeaderList? headers = null;
        var keys = new object[Criteria.Count];
        for (var k = 0; k < Criteria.Count; k++)
        {
            if (Criteria[k].Key is not (SortKey.Arrival or SortKey.Size)) headers ??= HeaderBlock.Parse(await access.HeaderAsync(ct));
            keys[k] = Value(Criteria[k].Key, record, headers);
        }
        return keys;
    }

    /// <summary>Orders two messages by their sort values; 0 when every criterion ties.</summary>
    public int Compare(object[] a, object[] b)
    {
        for (var k = 0; k < Criteria.Count; k++)
        {
            var c = a[k] switch
            {
                string s => string.CompareOrdinal(s, (string)b[k]),
                long n => n.CompareTo((long)b[k]),
                _ => 0,
            };
            if (c != 0) return Criteria[k].Reverse ? -c : c;
        }
        return 0;
    }

    /// <summary>The value a message sorts by: a number (dates as Unix milliseconds) or an i;ascii-casemap string.</summary>
    public static object Value(SortKey key, MessageRecord record, HeaderList? headers) => key switch
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
}
