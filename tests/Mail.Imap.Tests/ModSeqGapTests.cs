using System.Text.RegularExpressions;
using Mail.Core.Ports;
using Flags = Mail.Core.Ports.MessageFlags;

namespace Mail.Imap.Tests;

/// <summary>
/// A QRESYNC client keeps the highest MODSEQ it was told (the last HIGHESTMODSEQ, raised by the MODSEQ of every FETCH
/// after it, as imaptest and offline clients do) and reselects from it. An expunge the server holds back during
/// STORE or FETCH (RFC 9051 7.5.1) has a lower MODSEQ than the FETCH the command answers with: unless the server then
/// says HIGHESTMODSEQ below it (RFC 7162, errata 1810 of RFC 5162), the reselect never reports the expunge and the
/// client keeps a ghost message that shifts every sequence number after it (imaptest's "UID changed for sequence").
/// </summary>
public sealed partial class ModSeqGapTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    // Long enough that a FETCH right after SELECT does not look for changes on its own account.
    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync(o => o.IdlePollInterval = TimeSpan.FromSeconds(1));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [GeneratedRegex(@"\[HIGHESTMODSEQ (\d+)\]")]
    private static partial Regex HighestModSeqCode();

    [GeneratedRegex(@"^\* \d+ FETCH \(.*MODSEQ \((\d+)\)")]
    private static partial Regex FetchModSeq();

    [GeneratedRegex(@"^\* VANISHED (?:\(EARLIER\) )?([\d,:]+)$")]
    private static partial Regex Vanished();

    [GeneratedRegex(@"\[UIDVALIDITY (\d+)\]")]
    private static partial Regex UidValidity();

    /// <summary>The client side: its cached UIDs and the HIGHESTMODSEQ it would resynchronise from.</summary>
    private sealed class ClientCache(IEnumerable<long> uids)
    {
        public SortedSet<long> Uids { get; } = [.. uids];

        public long HighestModSeq { get; private set; }

        public void Read(IEnumerable<string> lines)
        {
            long untagged = 0;
            foreach (var line in lines)
            {
                if (HighestModSeqCode().Match(line) is { Success: true } code)
                {
                    HighestModSeq = long.Parse(code.Groups[1].Value);
                    untagged = 0;
                }
                else if (FetchModSeq().Match(line) is { Success: true } fetch)
                {
                    untagged = Math.Max(untagged, long.Parse(fetch.Groups[1].Value));
                }
                else if (Vanished().Match(line) is { Success: true } vanished)
                {
                    foreach (var uid in Expand(vanished.Groups[1].Value)) Uids.Remove(uid);
                }
            }
            HighestModSeq = Math.Max(HighestModSeq, untagged);
        }

        private static IEnumerable<long> Expand(string set) =>
            set.Split(',').SelectMany(r => r.Split(':') is [var a, var b]
                ? Enumerable.Range(int.Parse(a), int.Parse(b) - int.Parse(a) + 1).Select(i => (long)i)
                : [long.Parse(r)]);
    }

    private async Task DeliverThreeAsync()
    {
        for (var i = 0; i < 3; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
    }

    /// <summary>Another session's expunge of UID 3 (its MODSEQ is below whatever this session changes next).</summary>
    private async Task OtherSessionExpungesThreeAsync()
    {
        await _server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [3], FlagChange.Add, [Flags.Deleted]);
        await _server.Mailboxes.ExpungeAsync(ImapTestServer.Alice, "INBOX", [3]);
    }

    /// <summary>Reconnects with SELECT (QRESYNC) from the cache and returns the UIDs the client then believes exist.</summary>
    private async Task<SortedSet<long>> ReselectAsync(ClientCache cache, long uidValidity)
    {
        await using var again = await RawImapClient.ConnectAsync(_server.Port);
        await again.LoginAsync();
        await again.CommandAsync("e", "ENABLE QRESYNC");
        var select = await again.CommandAsync("s", $"SELECT INBOX (QRESYNC ({uidValidity} {cache.HighestModSeq}))");
        Assert.StartsWith("s OK", select[^1]);
        cache.Read(select);
        return cache.Uids;
    }

    private async Task<(RawImapClient Client, ClientCache Cache, long UidValidity)> SelectWithQresyncAsync()
    {
        var client = await RawImapClient.ConnectAsync(_server.Port);
        await client.LoginAsync();
        Assert.Contains("* ENABLED QRESYNC", await client.CommandAsync("e", "ENABLE QRESYNC"));
        var select = await client.CommandAsync("s", "SELECT INBOX");
        Assert.StartsWith("s OK", select[^1]);
        var cache = new ClientCache([1, 2, 3]);
        cache.Read(select);
        var validity = long.Parse(select.Select(l => UidValidity().Match(l)).First(m => m.Success).Groups[1].Value);
        return (client, cache, validity);
    }

    [Fact]
    public async Task A_store_that_holds_back_an_expunge_does_not_let_the_client_skip_it()
    {
        await DeliverThreeAsync();
        var (client, cache, validity) = await SelectWithQresyncAsync();
        await using (client)
        {
            await OtherSessionExpungesThreeAsync();
            var store = await client.CommandAsync("t", "STORE 1 +FLAGS (\\Flagged)");
            Assert.StartsWith("t OK", store[^1]);
            cache.Read(store);
            await client.CommandAsync("l", "LOGOUT");
        }

        Assert.Equal([1, 2], await ReselectAsync(cache, validity));
    }

    [Fact]
    public async Task A_fetch_that_sets_seen_while_an_expunge_is_held_back_does_not_let_the_client_skip_it()
    {
        await DeliverThreeAsync();
        var (client, cache, validity) = await SelectWithQresyncAsync();
        await using (client)
        {
            await OtherSessionExpungesThreeAsync();
            var fetch = await client.CommandAsync("f", "FETCH 1 (MODSEQ FLAGS BODY[])");
            Assert.StartsWith("f OK", fetch[^1]);
            Assert.Contains(fetch, l => FetchModSeq().IsMatch(l) && l.Contains("\\Seen", StringComparison.Ordinal));
            cache.Read(fetch);
            await client.CommandAsync("l", "LOGOUT");
        }

        Assert.Equal([1, 2], await ReselectAsync(cache, validity));
    }
}
