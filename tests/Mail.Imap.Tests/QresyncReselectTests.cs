using System.Text.RegularExpressions;
using Mail.Core.Ports;
using Flags = Mail.Core.Ports.MessageFlags;

namespace Mail.Imap.Tests;

/// <summary>
/// SELECT ... (QRESYNC ...) while another session changes the mailbox (RFC 7162 3.2.5): the client rebuilds its view
/// from its cache minus VANISHED (EARLIER) and takes the SELECT's EXISTS as its count, as imaptest's qresync stress mode
/// does. Another session's expunge or append that commits while the SELECT reads must not make that view differ from
/// the numbering the session then uses; it is reported with the next command. <see cref="ChangeBetweenReadsStore"/>
/// lands the change between the SELECT's reads every time (imaptest hit it by chance: "UID changed for sequence 2:
/// 987 -> 957").
/// </summary>
public sealed partial class QresyncReselectTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;
    private ChangeBetweenReadsStore _store = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task StartAsync(TimeSpan idlePollInterval) =>
        _server = await ImapTestServer.StartAsync(inner => _store = new ChangeBetweenReadsStore(inner), o => o.IdlePollInterval = idlePollInterval);

    [GeneratedRegex(@"^\* (\d+) EXISTS$")]
    private static partial Regex Exists();

    [GeneratedRegex(@"^\* VANISHED (\(EARLIER\) )?([\d,:]+)$")]
    private static partial Regex Vanished();

    [GeneratedRegex(@"^\* \d+ FETCH \(UID (\d+)\)$")]
    private static partial Regex FetchUid();

    [GeneratedRegex(@"\[UIDVALIDITY (\d+)\]")]
    private static partial Regex UidValidity();

    [GeneratedRegex(@"\[HIGHESTMODSEQ (\d+)\]")]
    private static partial Regex HighestModSeq();

    private async Task DeliverAsync(int count)
    {
        for (var i = 0; i < count; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"m{i}"));
    }

    /// <summary>A first session's SELECT: the UIDVALIDITY and HIGHESTMODSEQ a client caches with UIDs 1..5.</summary>
    private async Task<(long UidValidity, long ModSeq)> CacheAsync()
    {
        await using var first = await RawImapClient.ConnectAsync(_server.Port);
        await first.LoginAsync();
        await first.CommandAsync("e", "ENABLE QRESYNC");
        var select = await first.CommandAsync("s", "SELECT INBOX");
        Assert.StartsWith("s OK", select[^1]);
        return (Number(select, UidValidity()), Number(select, HighestModSeq()));
    }

    private static long Number(List<string> lines, Regex code) =>
        long.Parse(lines.Select(l => code.Match(l)).First(m => m.Success).Groups[1].Value);

    private static IEnumerable<long> Expand(string set) =>
        set.Split(',').SelectMany(r => r.Split(':') is [var a, var b]
            ? Enumerable.Range(int.Parse(a), int.Parse(b) - int.Parse(a) + 1).Select(i => (long)i)
            : [long.Parse(r)]);

    /// <summary>The client's view after the lines: known UIDs minus every VANISHED, in sequence order.</summary>
    private static List<long> Apply(IEnumerable<long> known, List<string> lines)
    {
        var view = new SortedSet<long>(known);
        foreach (var m in lines.Select(l => Vanished().Match(l)).Where(m => m.Success))
            foreach (var uid in Expand(m.Groups[2].Value)) view.Remove(uid);
        return [.. view];
    }

    private static async Task<List<long>> SequenceToUidAsync(RawImapClient client, string tag)
    {
        var fetch = await client.CommandAsync(tag, "FETCH 1:* (UID)");
        Assert.StartsWith($"{tag} OK", fetch[^1]);
        return [.. fetch.Select(l => FetchUid().Match(l)).Where(m => m.Success).Select(m => long.Parse(m.Groups[1].Value))];
    }

    [Fact]
    public async Task An_expunge_committed_while_select_reads_is_not_reported_as_vanished_earlier()
    {
        // Long enough that the commands right after LOGIN do not look for changes on their own account.
        await StartAsync(TimeSpan.FromSeconds(1));
        await DeliverAsync(5);
        var (validity, modSeq) = await CacheAsync();

        await using var client = await RawImapClient.ConnectAsync(_server.Port);
        await client.LoginAsync();
        await client.CommandAsync("e", "ENABLE QRESYNC");
        _store.BeforeNextExpungeLogRead(async () =>
        {
            await _server.Mailboxes.StoreFlagsAsync(ImapTestServer.Alice, "INBOX", [2, 3], FlagChange.Add, [Flags.Deleted]);
            await _server.Mailboxes.ExpungeAsync(ImapTestServer.Alice, "INBOX", [2, 3]);
        });
        var select = await client.CommandAsync("s", $"SELECT INBOX (QRESYNC ({validity} {modSeq}))");
        Assert.StartsWith("s OK", select[^1]);
        var view = Apply([1, 2, 3, 4, 5], select);

        // The session numbers the messages as the client now does (FETCH never reports an expunge).
        Assert.Equal(view, await SequenceToUidAsync(client, "f1"));
        Assert.Equal(view.Count, int.Parse(select.Select(l => Exists().Match(l)).Last(m => m.Success).Groups[1].Value));

        // And the expunge comes with the next command that may report it.
        var noop = await client.CommandAsync("n", "NOOP");
        Assert.Contains("* VANISHED 2:3", noop);
        view = Apply(view, noop);
        Assert.Equal([1, 4, 5], view);
        Assert.Equal(view, await SequenceToUidAsync(client, "f2"));
    }

    [Fact]
    public async Task Mail_arriving_while_select_reads_is_reported_after_the_select_not_inside_it()
    {
        // Short: every command looks for changes, SELECT included unless it is told not to.
        await StartAsync(TimeSpan.FromMilliseconds(1));
        await DeliverAsync(5);
        var (validity, modSeq) = await CacheAsync();

        await using var client = await RawImapClient.ConnectAsync(_server.Port);
        await client.LoginAsync();
        await client.CommandAsync("e", "ENABLE QRESYNC");
        _store.BeforeNextExpungeLogRead(() => DeliverAsync(1));
        var select = await client.CommandAsync("s", $"SELECT INBOX (QRESYNC ({validity} {modSeq}))");
        Assert.StartsWith("s OK", select[^1]);

        // One EXISTS: a client applying VANISHED (EARLIER) to its cache takes it as its count when the SELECT ends.
        Assert.Equal(["* 5 EXISTS"], select.Where(l => Exists().IsMatch(l)));
        Assert.Contains("* 6 EXISTS", await client.CommandAsync("n", "NOOP"));
        Assert.Equal([1L, 2, 3, 4, 5, 6], await SequenceToUidAsync(client, "f"));
    }
}
