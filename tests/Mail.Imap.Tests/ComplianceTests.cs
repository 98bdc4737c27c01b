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

    private async Task<ImapClient> ConnectAsync()
    {
        var client = new ImapClient { Timeout = 15000 };
        await client.ConnectAsync("127.0.0.1", _server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        return client;
    }

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
}
