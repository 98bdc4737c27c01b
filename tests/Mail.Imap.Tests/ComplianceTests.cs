using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;

namespace Mail.Imap.Tests;

/// <summary>Single behaviours imaptest's scripted files found wrong, each checked on its own.</summary>
public sealed class ComplianceTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<ImapClient> ConnectAsync() => _server.ConnectAliceAsync();

    private static string Raw(string headers, string body = "body") => headers.Replace("\n", "\r\n") + "\r\n\r\n" + body + "\r\n";

    [Fact]
    public async Task A_name_that_is_not_valid_modified_utf7_gets_no_for_select_and_an_empty_list()
    {
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        var r = await raw.CommandAsync("s", "SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}");
        Assert.StartsWith("s NO ", r[^1]);
        r = await raw.CommandAsync("l", "LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*");
        Assert.StartsWith("l OK ", r[^1]);
        Assert.DoesNotContain(r, l => l.StartsWith("* LIST", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Envelope_carries_a_source_route_as_the_address_adl()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("From: <@route:user@domain>\nSubject: routed"));
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "EXAMINE INBOX");
        var r = await raw.CommandAsync("f", "FETCH 1 ENVELOPE");
        Assert.Contains(r, l => l.Contains("((NIL \"@route\" \"user\" \"domain\"))", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Search_from_matches_an_address_written_with_comments_inside_it()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("From: <user-from (comment)@ (comment) domain.org>"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("From: RealFrom <user-from@domain.org>"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("From: other@domain.org"));
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var found = await client.Inbox.SearchAsync(SearchQuery.FromContains("user-from@domain.org"));
        Assert.Equal([1u, 2u], found.Select(u => u.Id));
        found = await client.Inbox.SearchAsync(SearchQuery.FromContains("RealFrom <user-from@domain.org>"));
        Assert.Equal([2u], found.Select(u => u.Id));
    }

    [Fact]
    public async Task Condstore_enabled_by_fetch_modseq_reports_highestmodseq_and_modseq_in_store_replies()
    {
        for (var i = 0; i < 3; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "SELECT INBOX");
        var r = await raw.CommandAsync("f", "FETCH 1 MODSEQ");
        Assert.Contains(r, l => l.StartsWith("* OK [HIGHESTMODSEQ ", StringComparison.Ordinal));
        Assert.DoesNotContain(await raw.CommandAsync("f2", "FETCH 1 MODSEQ"), l => l.Contains("HIGHESTMODSEQ", StringComparison.Ordinal)); // once

        long StoreModSeq(List<string> reply)
        {
            var line = Assert.Single(reply, l => l.Contains(" FETCH (", StringComparison.Ordinal));
            var at = line.IndexOf("MODSEQ (", StringComparison.Ordinal);
            Assert.True(at > 0, line);
            return long.Parse(line[(at + 8)..line.IndexOf(')', at)], System.Globalization.CultureInfo.InvariantCulture);
        }
        var m3 = StoreModSeq(await raw.CommandAsync("a", "STORE 3 +FLAGS \\Seen"));
        var m1 = StoreModSeq(await raw.CommandAsync("b", "STORE 1 +FLAGS \\Seen"));
        Assert.True(m1 > m3);
        // MAX alone: the MODSEQ of the MAX message (3), not the highest of all matches (1).
        r = await raw.CommandAsync("c", "SEARCH RETURN (MAX) MODSEQ 1 SEEN");
        Assert.Contains($"* ESEARCH (TAG \"c\") MAX 3 MODSEQ {m3}", r);
        r = await raw.CommandAsync("d", "SEARCH RETURN (ALL) MODSEQ 1 SEEN");
        Assert.Contains($"* ESEARCH (TAG \"d\") ALL 1,3 MODSEQ {m1}", r);
    }

    [Fact]
    public async Task Body_of_a_binary_part_is_base64_while_binary_gives_the_raw_octets()
    {
        var raw = "From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\u0001\u0000-\u00ff\r\n";
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", raw);
        await using var rawClient = await RawImapClient.ConnectAsync(_server.Port);
        await rawClient.LoginAsync();
        await rawClient.CommandAsync("s", "EXAMINE INBOX");
        var r = await rawClient.CommandAsync("f", "FETCH 1 (BODY.PEEK[1] BINARY.SIZE[1])");
        var octets = new byte[] { 1, 0, (byte)'-', 0xc3, 0xbf }; // U+00FF went in as UTF-8
        Assert.Contains(r, l => l.Contains($"BINARY.SIZE[1] {octets.Length + 2}", StringComparison.Ordinal));
        var base64 = Convert.ToBase64String([.. octets, 13, 10]);
        Assert.Contains(r, l => l == base64);
        Assert.DoesNotContain(r, l => l.Contains('\0'));
    }

    [Fact]
    public async Task Sort_orders_by_base_subject_then_reverse_size_and_esort_returns_min_max_count()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Subject: Re: banana\nFrom: Zed <zed@example.org>", "x"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Subject: apple\nFrom: amy@example.org", "xxxxxxxx"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Subject: [list] Fwd: apple\nFrom: bob@example.org", "xxxxxxxxxxxxxxxx"));
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Sort));
        var sorted = await client.Inbox.SortAsync(SearchQuery.All, [OrderBy.Subject, OrderBy.ReverseSize]);
        Assert.Equal([3u, 2u, 1u], sorted.Select(u => u.Id));
        sorted = await client.Inbox.SortAsync(SearchQuery.All, [new OrderBy(OrderByType.DisplayFrom, SortOrder.Ascending)]);
        Assert.Equal([2u, 3u, 1u], sorted.Select(u => u.Id)); // amy, bob, Zed

        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "EXAMINE INBOX");
        var r = await raw.CommandAsync("e", "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL");
        Assert.Contains("* ESEARCH (TAG \"e\") MIN 2 MAX 1 COUNT 3", r);
    }

    [Fact]
    public async Task Thread_references_links_replies_and_orderedsubject_groups_by_base_subject()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Message-ID: <a@x>\nSubject: plan\nDate: Mon, 1 Jan 2024 10:00:00 +0000"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Message-ID: <z@x>\nSubject: other\nDate: Mon, 1 Jan 2024 09:00:00 +0000"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Message-ID: <b@x>\nIn-Reply-To: <a@x>\nSubject: Re: plan\nDate: Mon, 1 Jan 2024 11:00:00 +0000"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Message-ID: <c@x>\nReferences: <a@x> <b@x>\nSubject: Re: plan\nDate: Mon, 1 Jan 2024 12:00:00 +0000"));
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("Message-ID: <d@x>\nReferences: <a@x>\nSubject: Re: plan\nDate: Mon, 1 Jan 2024 13:00:00 +0000"));
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "EXAMINE INBOX");
        var r = await raw.CommandAsync("t", "THREAD REFERENCES UTF-8 ALL");
        Assert.Contains("* THREAD (2)(1 (3 4)(5))", r);
        r = await raw.CommandAsync("o", "THREAD ORDEREDSUBJECT UTF-8 ALL");
        Assert.Contains("* THREAD (2)(1 (3)(4)(5))", r);
        r = await raw.CommandAsync("u", "UID THREAD REFERENCES UTF-8 NOT UID 2");
        Assert.Contains("* THREAD (1 (3 4)(5))", r);
    }

    [Fact]
    public async Task Catenate_joins_text_with_a_section_of_a_stored_message_and_refuses_a_wrong_uidvalidity()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", Raw("From: foo@example.com\nSubject: source", "Hello world body"));
        var validity = (await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "INBOX"))!.UidValidity;
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.SendLineAsync($"a APPEND Drafts CATENATE (URL \"/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=HEADER\" TEXT {{10+}}");
        await raw.SendAsync("new body\r\n");
        await raw.SendLineAsync(")");
        var r = await raw.ReadUntilTaggedAsync("a");
        Assert.StartsWith("a OK [APPENDUID ", r[^1]);
        await raw.CommandAsync("s", "EXAMINE Drafts");
        r = await raw.CommandAsync("f", "FETCH 1 BODY.PEEK[]");
        Assert.Equal(["From: foo@example.com", "Subject: source", "", "new body", ")"], r.Skip(1).Take(5));

        r = await raw.CommandAsync("b", $"APPEND Drafts CATENATE (URL \"/INBOX;UIDVALIDITY={validity + 1}/;UID=1/;SECTION=HEADER\")");
        Assert.StartsWith("b NO [BADURL]", r[^1]);
    }
}
