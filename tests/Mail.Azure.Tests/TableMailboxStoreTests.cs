using Azure;
using Azure.Data.Tables;
using Mail.Core.Ports;
using Mail.Storage.Azure;

namespace Mail.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class TableMailboxStoreTests(AzuriteFixture azurite)
{
    private const string User = "bob@example.org";

    private TableMailboxStore NewStore(string? table = null) =>
        new(azurite.Tables, table ?? AzuriteFixture.UniqueName("mbx"));

    private static NewMessage Msg(string? key = null, params string[] flags) =>
        new("ref/" + Guid.NewGuid().ToString("N"), 100, new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero), flags, key);

    [Fact]
    public async Task Default_mailboxes_are_created_once_with_special_use()
    {
        var s = NewStore();
        await s.EnsureUserMailboxesAsync(User);
        await s.EnsureUserMailboxesAsync(User);
        var list = await s.ListMailboxesAsync(User);
        Assert.Equal(["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"], list.Select(m => m.Name));
        Assert.Equal("\\Junk", list.Single(m => m.Name == "Junk").SpecialUse);
        Assert.Equal(6, list.Select(m => m.UidValidity).Distinct().Count());
        Assert.NotNull(await s.GetMailboxAsync(User, "inbox"));
        await Assert.ThrowsAsync<MailboxExistsException>(() => s.CreateMailboxAsync(User, "Junk"));
    }

    [Fact]
    public async Task Octets_missing_from_rows_of_earlier_builds_are_counted_once_written_back_and_kept_after()
    {
        var s = NewStore();
        await s.EnsureUserMailboxesAsync(User);
        await s.AppendAsync(User, "INBOX", Msg() with { Size = 1000 });
        await s.AppendAsync(User, "Sent", Msg() with { Size = 234 });
        // What earlier builds wrote: mailbox rows without Octets.
        foreach (var name in new[] { "INBOX", "Sent" })
        {
            var row = (await s.Table.GetEntityAsync<TableEntity>(User, "mbx|" + name)).Value;
            row.Remove("Octets");
            await s.Table.UpdateEntityAsync(row, ETag.All, TableUpdateMode.Replace);
        }
        Assert.Equal(1234, await s.GetUsageAsync(User));
        Assert.Equal(1000, (await s.Table.GetEntityAsync<TableEntity>(User, "mbx|INBOX")).Value.GetInt64("Octets"));
        await s.AppendAsync(User, "INBOX", Msg() with { Size = 66 });
        Assert.Equal(1066, (await s.Table.GetEntityAsync<TableEntity>(User, "mbx|INBOX")).Value.GetInt64("Octets"));
        Assert.Equal(1300, await s.GetUsageAsync(User));
    }

    [Fact]
    public async Task Subscriptions_kept_as_a_mailbox_property_by_earlier_builds_are_moved_once_and_versioned()
    {
        var table = AzuriteFixture.UniqueName("mbx");
        var s = NewStore(table);
        await s.CreateMailboxAsync(User, "Work");
        await s.CreateMailboxAsync(User, "Old");
        // What earlier builds wrote: a Subscribed property on each mailbox row, no subscription rows, no marker.
        foreach (var (name, subscribed) in new[] { ("Work", true), ("Old", false) })
            await s.Table.UpdateEntityAsync(new TableEntity(User, "mbx|" + name) { ["Subscribed"] = subscribed }, ETag.All, TableUpdateMode.Merge);

        Assert.Equal(["Work"], await NewStore(table).ListSubscriptionsAsync(User));
        var marker = (await s.Table.GetEntityAsync<TableEntity>(User, "subscriptions")).Value;
        Assert.Equal(TableMailboxStore.SubscriptionsFormat, marker.GetInt32("Format"));

        // Copied once: an unsubscribe sticks for every instance, although the old property is still on the row.
        await NewStore(table).SetSubscribedAsync(User, "Work", false);
        Assert.Empty(await NewStore(table).ListSubscriptionsAsync(User));

        // A newer format is refused with a message, not misread.
        marker["Format"] = TableMailboxStore.SubscriptionsFormat + 1;
        await s.Table.UpdateEntityAsync(marker, ETag.All);
        var e = await Assert.ThrowsAsync<MailboxException>(() => NewStore(table).ListSubscriptionsAsync(User));
        Assert.Contains("newer than this build", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Append_assigns_increasing_uids_and_is_idempotent_on_the_delivery_key()
    {
        var s = NewStore();
        await s.EnsureUserMailboxesAsync(User);
        var a = await s.AppendAsync(User, "INBOX", Msg("Q1/bob@example.org"));
        var b = await s.AppendAsync(User, "INBOX", Msg("Q2/bob@example.org", MessageFlags.Seen));
        var again = await s.AppendAsync(User, "INBOX", Msg("Q1/bob@example.org"));
        Assert.Equal(1, a.Message.Uid);
        Assert.Equal(2, b.Message.Uid);
        Assert.True(again.AlreadyPresent);
        Assert.Equal(a.Message, again.Message with { Flags = a.Message.Flags });
        var box = await s.GetMailboxAsync(User, "INBOX");
        Assert.Equal(3, box!.UidNext);
        Assert.Equal(2, box.MessageCount);
        Assert.Equal(1, box.UnseenCount);
        Assert.True(box.HighestModSeq >= b.Message.ModSeq);
        Assert.Equal([1L, 2L], (await s.ListMessagesAsync(User, "INBOX")).Select(m => m.Uid));
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => s.AppendAsync(User, "Nope", Msg()));
    }

    [Fact]
    public async Task Two_instances_appending_to_one_mailbox_at_once_get_unique_increasing_uids()
    {
        var table = AzuriteFixture.UniqueName("mbx");
        var first = NewStore(table);
        var second = NewStore(table);
        await first.EnsureUserMailboxesAsync(User);
        const int n = 40;
        var results = await Task.WhenAll(Enumerable.Range(0, n).Select(i =>
            (i % 2 == 0 ? first : second).AppendAsync(User, "INBOX", Msg($"Q{i}/bob"))));
        Assert.Equal(Enumerable.Range(1, n).Select(i => (long)i), results.Select(r => r.Message.Uid).Order());
        Assert.Equal(n, results.Select(r => r.Message.ModSeq).Distinct().Count());
        var listed = await first.ListMessagesAsync(User, "INBOX");
        Assert.Equal(n, listed.Count);
        Assert.Equal(results.Select(r => r.Message.MessageRef).Order(), listed.Select(m => m.MessageRef).Order());
        var box = await second.GetMailboxAsync(User, "INBOX");
        Assert.Equal(n + 1, box!.UidNext);
        Assert.Equal(n, box.MessageCount);
    }

    [Fact]
    public async Task The_same_delivery_racing_from_two_instances_is_stored_once()
    {
        var table = AzuriteFixture.UniqueName("mbx");
        var first = NewStore(table);
        var second = NewStore(table);
        await first.EnsureUserMailboxesAsync(User);
        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => (i % 2 == 0 ? first : second).AppendAsync(User, "INBOX", Msg("SAME/bob"))));
        Assert.Single(results, r => !r.AlreadyPresent);
        Assert.Single(await first.ListMessagesAsync(User, "INBOX"));
    }

    [Fact]
    public async Task Store_flags_changes_modseq_and_honours_unchangedsince()
    {
        var s = NewStore();
        await s.EnsureUserMailboxesAsync(User);
        for (var i = 0; i < 3; i++) await s.AppendAsync(User, "INBOX", Msg());
        var before = await s.GetMailboxAsync(User, "INBOX");
        var r = await s.StoreFlagsAsync(User, "INBOX", [1, 2], FlagChange.Add, [MessageFlags.Seen, "$Label1"]);
        Assert.Equal([1L, 2L], r.Changed.Select(m => m.Uid));
        Assert.All(r.Changed, m => Assert.True(m.ModSeq > before!.HighestModSeq));
        Assert.Equal(r.HighestModSeq, (await s.GetMailboxAsync(User, "INBOX"))!.HighestModSeq);
        Assert.Equal(1, (await s.GetMailboxAsync(User, "INBOX"))!.UnseenCount);

        var changed = await s.ListMessagesAsync(User, "INBOX", changedSince: before!.HighestModSeq);
        Assert.Equal([1L, 2L], changed.Select(m => m.Uid));

        var cond = await s.StoreFlagsAsync(User, "INBOX", [1, 3], FlagChange.Remove, [MessageFlags.Seen], unchangedSince: before.HighestModSeq);
        Assert.Equal([1L], cond.Failed);
        Assert.Empty(cond.Changed); // uid 3 has no \Seen to remove
        var replaced = await s.StoreFlagsAsync(User, "INBOX", [2], FlagChange.Replace, [MessageFlags.Flagged]);
        Assert.Equal([MessageFlags.Flagged], replaced.Changed.Single().Flags);
    }

    [Fact]
    public async Task Expunge_removes_deleted_messages_and_logs_them()
    {
        var s = NewStore();
        await s.EnsureUserMailboxesAsync(User);
        for (var i = 0; i < 4; i++) await s.AppendAsync(User, "INBOX", Msg());
        var mark = (await s.GetMailboxAsync(User, "INBOX"))!.HighestModSeq;
        await s.StoreFlagsAsync(User, "INBOX", [2, 3, 4], FlagChange.Add, [MessageFlags.Deleted]);
        Assert.Equal([2L, 3L], await s.ExpungeAsync(User, "INBOX", [1, 2, 3]));
        Assert.Equal([4L], await s.ExpungeAsync(User, "INBOX"));
        Assert.Equal([1L], (await s.ListMessagesAsync(User, "INBOX")).Select(m => m.Uid));
        Assert.Equal([2L, 3L, 4L], await s.ListExpungedAsync(User, "INBOX", mark));
        var box = await s.GetMailboxAsync(User, "INBOX");
        Assert.Equal(1, box!.MessageCount);
        Assert.Equal(5, box.UidNext); // UIDs are never reused
        Assert.Empty(await s.ListExpungedAsync(User, "INBOX", box.HighestModSeq));
    }

    [Fact]
    public async Task Copy_and_move_map_uids_and_move_leaves_nothing_behind()
    {
        var s = NewStore();
        await s.EnsureUserMailboxesAsync(User);
        for (var i = 0; i < 3; i++) await s.AppendAsync(User, "INBOX", Msg(null, MessageFlags.Seen));
        var copy = await s.CopyAsync(User, "INBOX", [1, 3], "Archive");
        Assert.Equal([(1L, 1L), (3L, 2L)], copy.UidMap);
        Assert.Equal((await s.GetMailboxAsync(User, "Archive"))!.UidValidity, copy.DestinationUidValidity);
        var move = await s.MoveAsync(User, "INBOX", [2, 3], "Trash");
        Assert.Equal([(2L, 1L), (3L, 2L)], move.UidMap);
        Assert.Equal([1L], (await s.ListMessagesAsync(User, "INBOX")).Select(m => m.Uid));
        Assert.Equal(2, (await s.ListMessagesAsync(User, "Trash")).Count);
        Assert.Equal([2L, 3L], await s.ListExpungedAsync(User, "INBOX", 0));
        Assert.Equal(1, (await s.GetMailboxAsync(User, "INBOX"))!.MessageCount);
        var refs = (await s.ListMessagesAsync(User, "Archive")).Select(m => m.MessageRef).ToList();
        Assert.Equal(2, refs.Count);
    }

    [Fact]
    public async Task Rename_moves_children_and_renaming_inbox_leaves_an_empty_inbox_that_never_reuses_uids()
    {
        var s = NewStore();
        await s.EnsureUserMailboxesAsync(User);
        await s.CreateMailboxAsync(User, "Work");
        await s.CreateMailboxAsync(User, "Work/2026");
        await s.AppendAsync(User, "Work/2026", Msg());
        await s.RenameMailboxAsync(User, "Work", "Job");
        var names = (await s.ListMailboxesAsync(User)).Select(m => m.Name).ToList();
        Assert.Contains("Job", names);
        Assert.Contains("Job/2026", names);
        Assert.DoesNotContain("Work", names);
        Assert.Single(await s.ListMessagesAsync(User, "Job/2026"));
        await Assert.ThrowsAsync<MailboxExistsException>(() => s.RenameMailboxAsync(User, "Job", "Sent"));
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => s.RenameMailboxAsync(User, "Nope", "Other"));

        await s.AppendAsync(User, "INBOX", Msg());
        var oldInbox = await s.GetMailboxAsync(User, "INBOX");
        await s.RenameMailboxAsync(User, "INBOX", "Old");
        var inbox = await s.GetMailboxAsync(User, "INBOX");
        Assert.Equal(0, inbox!.MessageCount);
        Assert.Equal(oldInbox!.UidNext, inbox.UidNext);
        Assert.Equal(oldInbox.UidNext, (await s.AppendAsync(User, "INBOX", Msg())).Message.Uid);
        Assert.Single(await s.ListMessagesAsync(User, "Old"));
        Assert.Equal(oldInbox.UidValidity, (await s.GetMailboxAsync(User, "Old"))!.UidValidity);
    }

    [Fact]
    public async Task Delete_and_recreate_gives_an_empty_mailbox_with_a_new_uidvalidity()
    {
        var s = NewStore();
        var created = await s.CreateMailboxAsync(User, "Lists/dev");
        await s.AppendAsync(User, "Lists/dev", Msg("k1"));
        await s.DeleteMailboxAsync(User, "Lists/dev");
        Assert.Null(await s.GetMailboxAsync(User, "Lists/dev"));
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => s.DeleteMailboxAsync(User, "Lists/dev"));
        var again = await s.CreateMailboxAsync(User, "Lists/dev");
        Assert.NotEqual(created.UidValidity, again.UidValidity);
        Assert.Empty(await s.ListMessagesAsync(User, "Lists/dev"));
        // The old delivery key belonged to the old mailbox: the new one accepts it.
        Assert.False((await s.AppendAsync(User, "Lists/dev", Msg("k1"))).AlreadyPresent);
    }
}
