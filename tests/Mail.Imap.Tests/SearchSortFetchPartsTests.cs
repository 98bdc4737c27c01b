using System.Text;
using Mail.Core.Ports;
using Mail.Imap.Protocol;
using Mail.Imap.Session;

namespace Mail.Imap.Tests;

/// <summary>Unit tests of the command parts that are types of their own: the FETCH arguments
/// (<see cref="FetchRequest"/>), the search keys (<see cref="SearchProgram"/>), the sort criteria
/// (<see cref="SortOrder"/>), PARTIAL windows and an updating context's REMOVEFROM/ADDTO pairs. The messages are held
/// by a dictionary store (the one fake: this tests the matching, not a store).</summary>
public sealed class SearchSortFetchPartsTests
{
    private static ArgReader Args(string text) => new(text, []);

    [Fact]
    public void Fetch_arguments_with_modifiers_are_read_to_the_end()
    {
        var request = FetchRequest.Parse(Args(" 1:* (UID FLAGS BODY.PEEK[1.HEADER.FIELDS (From To)]<0.100>) (CHANGEDSINCE 12 VANISHED)"));
        Assert.Equal(new[] { "UID", "FLAGS", "BODY[1.HEADER.FIELDS (From To)]" }, request.Items.Select(i => i.Kind switch
        {
            FetchKind.Uid => "UID",
            FetchKind.Flags => "FLAGS",
            _ => i.Label,
        }));
        var section = request.Items[2];
        Assert.True(section.Peek);
        Assert.Equal(new[] { 1 }, section.Part);
        Assert.Equal("HEADER.FIELDS", section.Suffix);
        Assert.Equal(new[] { "From", "To" }, section.Fields);
        Assert.Equal(0L, section.PartialStart);
        Assert.Equal(100L, section.PartialLength);
        Assert.Equal(12, request.ChangedSince);
        Assert.True(request.Vanished);
        Assert.True(request.HasModifiers);
        Assert.False(request.SetsSeen);
        Assert.False(request.OnlySummary);
    }

    [Theory]
    [InlineData(" 1 FAST", false, true)]
    [InlineData(" 1 ALL", false, true)]
    [InlineData(" 1 FULL", false, false)]
    [InlineData(" 1 RFC822", true, false)]
    [InlineData(" 1 BINARY[1]", true, false)]
    [InlineData(" 1 BINARY.PEEK[1]", false, false)]
    [InlineData(" 1 RFC822.HEADER", false, false)]
    public void Macros_and_body_items_say_whether_they_set_seen_and_need_the_body(string args, bool setsSeen, bool onlySummary)
    {
        var request = FetchRequest.Parse(Args(args));
        Assert.Equal(setsSeen, request.SetsSeen);
        Assert.Equal(onlySummary, request.OnlySummary);
        Assert.False(request.HasModifiers);
    }

    [Theory]
    [InlineData(" 1 (FLAGS) (BOGUS 1)", "Unknown FETCH modifier BOGUS")]
    [InlineData(" 1 (FLAGS) junk", "Expected '('")]
    [InlineData(" 1 (FLAGS) (CHANGEDSINCE 1) junk", "Unexpected characters")]
    [InlineData(" 1 BINARY[1.TEXT]", "BINARY takes part numbers only")]
    [InlineData(" 1 BODY[0]", "Bad section part number")]
    [InlineData(" 1 XYZZY", "Unknown FETCH item XYZZY")]
    public void Bad_fetch_arguments_name_what_is_wrong(string args, string message)
    {
        var e = Assert.Throws<ImapParseException>(() => FetchRequest.Parse(Args(args)));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    private sealed class DictionaryStore : IMessageStore
    {
        public Dictionary<string, byte[]> Messages { get; } = [];

        public Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default) =>
            Task.FromResult<Stream?>(Messages.TryGetValue(id, out var m) ? new MemoryStream(m, writable: false) : null);

        public Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default) => Task.FromResult(Messages.ContainsKey(id));

        public Task DeleteAsync(string id, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }

    /// <summary>Four messages, UIDs 10, 20, 30, 40: different senders, subjects, dates, sizes and flags.</summary>
    private static (SelectedMailbox Mailbox, DictionaryStore Store) Mailbox()
    {
        var store = new DictionaryStore();
        var mailbox = new SelectedMailbox("INBOX", readOnly: false, uidValidity: 1);
        var records = new List<MessageRecord>();
        (string From, string Subject, string Date, string Body, string[] Flags)[] messages =
        [
            ("Zed <zed@example.org>", "Re: lunch", "Mon, 02 Mar 2026 10:00:00 +0000", "see you at noon", [MessageFlags.Seen]),
            ("amy@example.org", "budget", "Sun, 01 Mar 2026 10:00:00 +0000", "numbers attached", []),
            ("Bob <bob@example.net>", "Lunch", "Tue, 03 Mar 2026 10:00:00 +0000", "noon works", [MessageFlags.Flagged, "$Work"]),
            ("undisclosed-recipients:;", "[list] budget", "not a date", "", [MessageFlags.Seen, MessageFlags.Deleted]),
        ];
        for (var i = 0; i < messages.Length; i++)
        {
            var (from, subject, date, body, flags) = messages[i];
            var raw = Encoding.UTF8.GetBytes($"From: {from}\r\nSubject: {subject}\r\nDate: {date}\r\n\r\n{body}\r\n");
            store.Messages["m" + i] = raw;
            records.Add(new MessageRecord((i + 1) * 10, "m" + i, 1000 * (i + 1), new DateTimeOffset(2026, 3, 4 - i, 0, 0, 0, TimeSpan.Zero), flags, 100 + i));
        }
        mailbox.Load(records);
        mailbox.AddRecent(30, 41);
        mailbox.SearchResult = [20, 40];
        return (mailbox, store);
    }

    [Theory]
    [InlineData("ALL", new long[] { 10, 20, 30, 40 })]
    [InlineData("SEEN", new long[] { 10, 40 })]
    [InlineData("UNSEEN UNDELETED", new long[] { 20, 30 })]
    [InlineData("KEYWORD $work", new long[] { 30 })]
    [InlineData("NEW", new long[] { 30 })]
    [InlineData("OLD", new long[] { 10, 20 })]
    [InlineData("FROM example.net", new long[] { 30 })]
    [InlineData("FROM \"Zed <zed@\"", new long[] { 10 })]
    [InlineData("SUBJECT lunch", new long[] { 10, 30 })]
    [InlineData("BODY noon", new long[] { 10, 30 })]
    [InlineData("TEXT budget", new long[] { 20, 40 })]
    [InlineData("SENTBEFORE 2-Mar-2026", new long[] { 20 })]
    [InlineData("SINCE 3-Mar-2026", new long[] { 10, 20 })]
    [InlineData("OR 1 UID 40", new long[] { 10, 40 })]
    [InlineData("NOT (2:4 $)", new long[] { 10, 30 })]
    [InlineData("$", new long[] { 20, 40 })]
    [InlineData("MODSEQ 102", new long[] { 30, 40 })]
    [InlineData("HEADER Subject \"\"", new long[] { 10, 20, 30, 40 })]
    public async Task Search_keys_match_the_messages_RFC_9051_names(string keys, long[] uids)
    {
        var (mailbox, store) = Mailbox();
        var program = SearchProgram.Parse(Args(keys), mailbox);
        var matches = await program.MatchAsync(store, mailbox, default);
        Assert.Equal(uids, matches.Select(m => m.Record.Uid));
        Assert.Equal(uids.Select(u => mailbox.SequenceOf(u)), matches.Select(m => m.Seq));
        Assert.Equal(keys.StartsWith("MODSEQ", StringComparison.Ordinal), program.UsesModSeq);
    }

    [Theory]
    [InlineData("FROB", "Unknown SEARCH key FROB")]
    [InlineData("SINCE yesterday", "Bad date")]
    [InlineData("ALL)", "Unexpected characters")]
    public void Bad_search_keys_name_what_is_wrong(string keys, string message)
    {
        var (mailbox, _) = Mailbox();
        var e = Assert.Throws<ImapParseException>(() => SearchProgram.Parse(Args(keys), mailbox));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("(ARRIVAL)", new long[] { 40, 30, 20, 10 })]
    [InlineData("(REVERSE SIZE)", new long[] { 40, 30, 20, 10 })]
    [InlineData("(SUBJECT)", new long[] { 20, 40, 10, 30 })] // base subjects: "budget", "budget", "lunch", "lunch"
    [InlineData("(DATE)", new long[] { 40, 20, 10, 30 })]   // no readable Date: the arrival date (1 March, earliest)
    [InlineData("(FROM)", new long[] { 20, 30, 40, 10 })]   // "AMY", "BOB", the group's name, "ZED"
    [InlineData("(DISPLAYFROM REVERSE ARRIVAL)", new long[] { 20, 30, 40, 10 })] // "AMY@EXAMPLE.ORG" (no name), "BOB", the group, "ZED"
    public async Task Sort_criteria_order_messages_ties_left_to_the_caller(string criteria, long[] uids)
    {
        var (mailbox, store) = Mailbox();
        var order = SortOrder.Read(Args(criteria));
        var keyed = new List<(long Uid, int Seq, object[] Values)>();
        foreach (var uid in mailbox.Uids) keyed.Add((uid, mailbox.SequenceOf(uid), await order.ValuesAsync(store, mailbox.Records[uid], default)));
        keyed.Sort((a, b) => order.Compare(a.Values, b.Values) is var c && c != 0 ? c : a.Seq.CompareTo(b.Seq));
        Assert.Equal(uids, keyed.Select(k => k.Uid));
    }

    [Fact]
    public void Unknown_sort_key_is_named()
    {
        var e = Assert.Throws<ImapParseException>(() => SortOrder.Read(Args("(ARRIVAL SPEED)")));
        Assert.Equal("Unknown SORT key SPEED", e.Message);
    }

    [Theory]
    [InlineData("1:3", " PARTIAL (1:3 7:8,3)")]
    [InlineData("5:2", " PARTIAL (2:5 8,3:4)")]
    [InlineData("9:10", " PARTIAL (9:10 NIL)")]
    public void Partial_windows_keep_the_result_order(string range, string expected)
    {
        var partial = PartialRange.Read(Args(range));
        var window = partial.Window(new List<long> { 7, 8, 3, 4 });
        Assert.Equal(expected, partial.Format(window));
    }

    [Fact]
    public async Task A_sort_context_reports_removals_at_their_positions_and_keeps_insertions_in_order()
    {
        var (mailbox, store) = Mailbox();
        var order = SortOrder.Read(Args("(SUBJECT)"));
        var program = SearchProgram.Parse(Args("ALL"), mailbox);
        var context = new UpdatingContext("t1", uid: true, mailbox, program, order);
        foreach (var uid in new long[] { 20, 40, 10 })
        {
            context.SortValues[uid] = await order.ValuesAsync(store, mailbox.Records[uid], default);
            context.Results.Add(uid);
        }
        var removals = context.TakeFromResults(uid => uid is 20 or 40);
        Assert.Equal(new List<(int, long)> { (1, 20), (1, 40) }, removals);
        Assert.Equal("1 20,40", context.UpdatePairs(removals, removal: true));
        context.SortValues[30] = await order.ValuesAsync(store, mailbox.Records[30], default);
        context.Results.Insert(context.InsertionIndex(30), 30);
        Assert.Equal(new long[] { 10, 30 }, context.Results);
        Assert.Equal("2 30", context.UpdatePairs(new List<(int, long)> { (2, 30) }, removal: false));

        var search = new UpdatingContext("t2", uid: false, mailbox, program, null);
        search.Results.AddRange([10, 20, 30]);
        Assert.Equal("0 1:2", search.UpdatePairs(search.TakeFromResults(uid => uid < 30), removal: true));
    }

    [Fact]
    public void Esearch_lists_the_return_options_in_the_RFC_4731_order()
    {
        Assert.Equal("* ESEARCH (TAG \"a1\") UID MIN 7 MAX 4 ALL 7:8,3:4 COUNT 4 MODSEQ 9",
            EsearchResponse.Format("a1", uid: true, ["COUNT", "ALL", "MAX", "MIN"], [7, 8, 3, 4], null, 9));
        Assert.Equal("* ESEARCH (TAG \"a2\") PARTIAL (2:3 8,3) COUNT 4",
            EsearchResponse.Format("a2", uid: false, ["COUNT"], [7, 8, 3, 4], new PartialRange(2, 3), null));
        Assert.Equal("* ESEARCH (TAG \"a3\") COUNT 0", EsearchResponse.Format("a3", uid: false, ["MIN", "ALL", "COUNT"], [], null, null));
    }
}
