using Mail.Core.Ports;
using Xunit;

namespace Mail.Storage.Contracts;

/// <summary>The documented behaviour of <see cref="IMailboxStore"/> (IMAP semantics), for every adapter.
/// Users are unique per test, so a store may be shared.</summary>
public abstract class MailboxStoreContract
{
    protected abstract Task<IMailboxStore> CreateStoreAsync();

    /// <summary>A store given the message store its rows' messages live in: it deletes a message once no row
    /// references it.</summary>
    protected abstract Task<(IMailboxStore Store, IMessageStore Messages)> CreateStoreWithMessagesAsync();

    protected static string NewUser() => $"u{Guid.NewGuid():N}@example.org";

    protected static NewMessage Msg(string? key = null, params string[] flags) =>
        new("ref-" + Guid.NewGuid().ToString("N"), 100, new DateTimeOffset(2026, 11, 28, 10, 0, 0, TimeSpan.Zero), flags, key);


    private async Task<(IMailboxStore Store, string User)> ReadyAsync()
    {
        var store = await CreateStoreAsync();
        var user = NewUser();
        await store.EnsureUserMailboxesAsync(user);
        return (store, user);
    }

    [Fact]
    public async Task Standard_mailboxes_are_created_once_with_special_use()
    {
        var (store, user) = await ReadyAsync();
        var first = await store.ListMailboxesAsync(user);
        Assert.Equal(SpecialUse.Defaults.Select(d => d.Name).Order(StringComparer.Ordinal), first.Select(m => m.Name).Order(StringComparer.Ordinal));
        Assert.Equal("INBOX", first[0].Name);
        foreach (var (name, use) in SpecialUse.Defaults)
        {
            var box = Assert.Single(first, m => m.Name == name);
            Assert.Equal(use, box.SpecialUse);
            Assert.Equal(1, box.UidNext);
            Assert.Equal(0, box.MessageCount);
            Assert.True(box.UidValidity > 0);
        }
        await store.EnsureUserMailboxesAsync(user);
        var second = await store.ListMailboxesAsync(user);
        Assert.Equal(first.Select(m => (m.Name, m.UidValidity)).OrderBy(x => x.Name, StringComparer.Ordinal),
            second.Select(m => (m.Name, m.UidValidity)).OrderBy(x => x.Name, StringComparer.Ordinal));
    }

    [Fact]
    public async Task Inbox_is_case_insensitive_other_names_are_not()
    {
        var (store, user) = await ReadyAsync();
        Assert.Equal("INBOX", (await store.GetMailboxAsync(user, "inbox"))!.Name);
        Assert.Equal("INBOX", (await store.GetMailboxAsync(user, "InBoX"))!.Name);
        Assert.Null(await store.GetMailboxAsync(user, "sent"));
        Assert.Null(await store.GetMailboxAsync(user, "Nope"));
        var r = await store.AppendAsync(user, "inbox", Msg());
        Assert.Equal(1, r.Message.Uid);
        Assert.Equal(1, (await store.GetMailboxAsync(user, "INBOX"))!.MessageCount);
    }

    [Fact]
    public async Task Append_assigns_increasing_uids_and_modseqs_and_updates_counts()
    {
        var (store, user) = await ReadyAsync();
        var before = (await store.GetMailboxAsync(user, "INBOX"))!;
        var m1 = Msg();
        var a1 = await store.AppendAsync(user, "INBOX", m1);
        var a2 = await store.AppendAsync(user, "INBOX", Msg(null, MessageFlags.Seen));
        Assert.Equal(1, a1.Message.Uid);
        Assert.Equal(2, a2.Message.Uid);
        Assert.False(a1.AlreadyPresent);
        Assert.Equal(before.UidValidity, a1.UidValidity);
        Assert.True(a2.Message.ModSeq > a1.Message.ModSeq);
        Assert.Equal(m1.MessageRef, a1.Message.MessageRef);
        Assert.Equal(m1.Size, a1.Message.Size);
        Assert.Equal(m1.InternalDate, a1.Message.InternalDate);
        var info = (await store.GetMailboxAsync(user, "INBOX"))!;
        Assert.Equal(3, info.UidNext);
        Assert.Equal(2, info.MessageCount);
        Assert.Equal(1, info.UnseenCount);
        Assert.Equal(a2.Message.ModSeq, info.HighestModSeq);
        var list = await store.ListMessagesAsync(user, "INBOX");
        Assert.Equal([1L, 2L], list.Select(m => m.Uid));
        Assert.Contains(MessageFlags.Seen, list[1].Flags);
    }

    [Fact]
    public async Task Usage_is_the_octets_of_every_record_in_every_mailbox_until_expunged()
    {
        var (store, user) = await ReadyAsync();
        Assert.Equal(0, await store.GetUsageAsync(user));
        Assert.Equal(0, await store.GetUsageAsync(NewUser()));
        var key = Msg("q/1") with { Size = 1000 };
        await store.AppendAsync(user, "INBOX", key);
        await store.AppendAsync(user, "INBOX", key); // a redelivery adds nothing
        var second = await store.AppendAsync(user, "INBOX", Msg() with { Size = 300 });
        await store.AppendAsync(user, "Sent", Msg() with { Size = 20 });
        Assert.Equal(1320, await store.GetUsageAsync(user));
        // COPY doubles the octets; MOVE leaves them as they were; \Deleted still counts until EXPUNGE.
        await store.CopyAsync(user, "INBOX", [second.Message.Uid], "Archive");
        Assert.Equal(1620, await store.GetUsageAsync(user));
        var moved = await store.MoveAsync(user, "INBOX", [second.Message.Uid], "Trash");
        Assert.Equal(1620, await store.GetUsageAsync(user));
        var inTrash = moved.UidMap.Single().DestinationUid;
        await store.StoreFlagsAsync(user, "Trash", [inTrash], FlagChange.Add, [MessageFlags.Deleted]);
        Assert.Equal(1620, await store.GetUsageAsync(user));
        await store.ExpungeAsync(user, "Trash");
        Assert.Equal(1320, await store.GetUsageAsync(user));
        // RENAME keeps the octets with the messages; DELETE takes them away.
        await store.RenameMailboxAsync(user, "INBOX", "Old");
        Assert.Equal(1320, await store.GetUsageAsync(user));
        await store.DeleteMailboxAsync(user, "Archive");
        Assert.Equal(1020, await store.GetUsageAsync(user));
        Assert.Equal(0, await store.GetUsageAsync(NewUser()));
    }

    [Fact]
    public async Task Append_with_the_same_delivery_key_is_idempotent_but_without_key_never_deduplicated()
    {
        var (store, user) = await ReadyAsync();
        var first = await store.AppendAsync(user, "INBOX", Msg("Q1/alice@example.org"));
        var again = await store.AppendAsync(user, "INBOX", Msg("Q1/alice@example.org"));
        Assert.True(again.AlreadyPresent);
        Assert.Equal(first.Message.Uid, again.Message.Uid);
        Assert.Equal(first.Message.MessageRef, again.Message.MessageRef);
        var plain = Msg();
        await store.AppendAsync(user, "INBOX", plain);
        await store.AppendAsync(user, "INBOX", plain);
        Assert.Equal(3, (await store.ListMessagesAsync(user, "INBOX")).Count);
    }

    [Fact]
    public async Task Concurrent_appends_get_unique_uids_and_concurrent_redeliveries_one_copy()
    {
        var (store, user) = await ReadyAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => store.AppendAsync(user, "INBOX", Msg())));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), results.Select(r => r.Message.Uid).Order());
        var dup = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => store.AppendAsync(user, "INBOX", Msg("same-key"))));
        Assert.Single(dup, d => !d.AlreadyPresent);
        Assert.Single(dup.Select(d => d.Message.Uid).Distinct());
        Assert.Equal(21, (await store.ListMessagesAsync(user, "INBOX")).Count);
    }

    [Fact]
    public async Task A_failing_write_among_concurrent_ones_fails_alone()
    {
        var (store, user) = await ReadyAsync();
        var good = Enumerable.Range(0, 12).Select(_ => store.AppendAsync(user, "INBOX", Msg())).ToList();
        var bad = Enumerable.Range(0, 4).Select(_ => store.AppendAsync(user, "Missing", Msg())).ToList();
        await Task.WhenAll(good);
        foreach (var b in bad) await Assert.ThrowsAsync<MailboxNotFoundException>(() => b);
        Assert.Equal(12, (await store.ListMessagesAsync(user, "INBOX")).Count);
        Assert.Equal(13, (await store.GetMailboxAsync(user, "INBOX"))!.UidNext);
    }

    [Fact]
    public async Task Append_to_a_missing_mailbox_throws()
    {
        var (store, user) = await ReadyAsync();
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => store.AppendAsync(user, "Nope", Msg()));
    }

    [Fact]
    public async Task Flags_add_remove_replace_with_new_modseqs_and_changed_since()
    {
        var (store, user) = await ReadyAsync();
        await store.AppendAsync(user, "INBOX", Msg());
        var a2 = await store.AppendAsync(user, "INBOX", Msg());
        var mark = a2.Message.ModSeq;
        var added = await store.StoreFlagsAsync(user, "INBOX", [1], FlagChange.Add, [MessageFlags.Seen, "$Important"]);
        var rec = Assert.Single(added.Changed);
        Assert.Equal(1, rec.Uid);
        Assert.True(rec.ModSeq > mark);
        Assert.Equal(rec.ModSeq, added.HighestModSeq);
        Assert.Contains(MessageFlags.Seen, rec.Flags);
        Assert.Contains("$Important", rec.Flags);
        var changed = await store.ListMessagesAsync(user, "INBOX", changedSince: mark);
        Assert.Equal([1L], changed.Select(m => m.Uid));
        var removed = await store.StoreFlagsAsync(user, "INBOX", [1], FlagChange.Remove, [MessageFlags.Seen]);
        Assert.Equal(["$Important"], Assert.Single(removed.Changed).Flags);
        var replaced = await store.StoreFlagsAsync(user, "INBOX", [1, 2], FlagChange.Replace, [MessageFlags.Flagged]);
        Assert.All(replaced.Changed, m => Assert.Equal([MessageFlags.Flagged], m.Flags));
        var info = (await store.GetMailboxAsync(user, "INBOX"))!;
        Assert.Equal(replaced.HighestModSeq, info.HighestModSeq);
        Assert.Equal(2, info.UnseenCount);
    }

    [Fact]
    public async Task Unchanged_since_refuses_messages_modified_later()
    {
        var (store, user) = await ReadyAsync();
        var a1 = await store.AppendAsync(user, "INBOX", Msg());
        var a2 = await store.AppendAsync(user, "INBOX", Msg());
        await store.StoreFlagsAsync(user, "INBOX", [2], FlagChange.Add, [MessageFlags.Answered]);
        var result = await store.StoreFlagsAsync(user, "INBOX", [1, 2], FlagChange.Add, [MessageFlags.Seen], unchangedSince: a2.Message.ModSeq);
        Assert.Equal([2L], result.Failed);
        Assert.Equal([1L], result.Changed.Select(m => m.Uid));
        var list = await store.ListMessagesAsync(user, "INBOX");
        Assert.DoesNotContain(MessageFlags.Seen, list[1].Flags);
        Assert.True(a1.Message.ModSeq < a2.Message.ModSeq);
    }

    [Fact]
    public async Task Expunge_removes_only_deleted_logs_them_and_never_reuses_uids()
    {
        var (store, user) = await ReadyAsync();
        for (var i = 0; i < 4; i++) await store.AppendAsync(user, "INBOX", Msg());
        var mark = (await store.GetMailboxAsync(user, "INBOX"))!.HighestModSeq;
        await store.StoreFlagsAsync(user, "INBOX", [2, 3, 4], FlagChange.Add, [MessageFlags.Deleted]);
        Assert.Equal([3L], await store.ExpungeAsync(user, "INBOX", [1, 3]));
        Assert.Equal([2L, 4L], (await store.ExpungeAsync(user, "INBOX")).Order());
        Assert.Equal([1L], (await store.ListMessagesAsync(user, "INBOX")).Select(m => m.Uid));
        Assert.Equal([2L, 3L, 4L], (await store.ListExpungedAsync(user, "INBOX", mark)).Order());
        var info = (await store.GetMailboxAsync(user, "INBOX"))!;
        Assert.Empty(await store.ListExpungedAsync(user, "INBOX", info.HighestModSeq));
        var next = await store.AppendAsync(user, "INBOX", Msg());
        Assert.Equal(5, next.Message.Uid);
    }

    [Fact]
    public async Task Expunge_log_keeps_each_expunge_with_its_modseq_for_quick_resync()
    {
        var (store, user) = await ReadyAsync();
        for (var i = 0; i < 6; i++) await store.AppendAsync(user, "INBOX", Msg());
        var marks = new List<long> { (await store.GetMailboxAsync(user, "INBOX"))!.HighestModSeq };
        foreach (var round in new long[][] { [1, 2], [4], [6] })
        {
            await store.StoreFlagsAsync(user, "INBOX", round, FlagChange.Add, [MessageFlags.Deleted]);
            await store.ExpungeAsync(user, "INBOX", round);
            marks.Add((await store.GetMailboxAsync(user, "INBOX"))!.HighestModSeq);
        }
        Assert.True(marks.Zip(marks.Skip(1)).All(p => p.First < p.Second), "every expunge raises HIGHESTMODSEQ");
        Assert.Equal([1L, 2L, 4L, 6L], await store.ListExpungedAsync(user, "INBOX", marks[0]));
        Assert.Equal([4L, 6L], await store.ListExpungedAsync(user, "INBOX", marks[1]));
        Assert.Equal([6L], await store.ListExpungedAsync(user, "INBOX", marks[2]));
        Assert.Empty(await store.ListExpungedAsync(user, "INBOX", marks[3]));
        // Another mailbox has its own log.
        Assert.Empty(await store.ListExpungedAsync(user, "Junk", 0));
    }

    [Fact]
    public async Task Renaming_inbox_logs_its_messages_as_expunged_from_inbox_and_keeps_its_log()
    {
        var (store, user) = await ReadyAsync();
        for (var i = 0; i < 3; i++) await store.AppendAsync(user, "INBOX", Msg());
        await store.StoreFlagsAsync(user, "INBOX", [1], FlagChange.Add, [MessageFlags.Deleted]);
        await store.ExpungeAsync(user, "INBOX");
        var before = (await store.GetMailboxAsync(user, "INBOX"))!;
        await store.RenameMailboxAsync(user, "INBOX", "Old");
        var after = (await store.GetMailboxAsync(user, "INBOX"))!;
        // Same UIDVALIDITY, so a resyncing client must hear that 2 and 3 left, and still that 1 did.
        Assert.Equal(before.UidValidity, after.UidValidity);
        Assert.True(after.HighestModSeq > before.HighestModSeq);
        Assert.Equal([1L, 2L, 3L], await store.ListExpungedAsync(user, "INBOX", 0));
        Assert.Equal([2L, 3L], await store.ListExpungedAsync(user, "INBOX", before.HighestModSeq));
    }

    [Fact]
    public async Task Create_delete_and_recreate_gives_a_new_uidvalidity()
    {
        var (store, user) = await ReadyAsync();
        var created = await store.CreateMailboxAsync(user, "Projects");
        Assert.Equal("Projects", created.Name);
        Assert.Equal(1, created.UidNext);
        await Assert.ThrowsAsync<MailboxExistsException>(() => store.CreateMailboxAsync(user, "Projects"));
        await Assert.ThrowsAsync<MailboxExistsException>(() => store.CreateMailboxAsync(user, "inbox"));
        await store.AppendAsync(user, "Projects", Msg());
        await store.DeleteMailboxAsync(user, "Projects");
        Assert.Null(await store.GetMailboxAsync(user, "Projects"));
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => store.DeleteMailboxAsync(user, "Projects"));
        var again = await store.CreateMailboxAsync(user, "Projects");
        Assert.NotEqual(created.UidValidity, again.UidValidity);
        Assert.Equal(0, again.MessageCount);
    }

    [Fact]
    public async Task Create_with_special_use()
    {
        var (store, user) = await ReadyAsync();
        var box = await store.CreateMailboxAsync(user, "Old Sent", SpecialUse.Sent);
        Assert.Equal(SpecialUse.Sent, box.SpecialUse);
        Assert.Equal(SpecialUse.Sent, (await store.GetMailboxAsync(user, "Old Sent"))!.SpecialUse);
    }

    [Fact]
    public async Task The_standard_mailboxes_start_subscribed_and_stay_unsubscribed_once_unsubscribed()
    {
        var (store, user) = await ReadyAsync();
        Assert.Equal(SpecialUse.Defaults.Select(d => d.Name).Order(StringComparer.Ordinal), await store.ListSubscriptionsAsync(user));
        await store.SetSubscribedAsync(user, "Junk", false);
        await store.EnsureUserMailboxesAsync(user);
        Assert.DoesNotContain("Junk", await store.ListSubscriptionsAsync(user));
    }

    [Fact]
    public async Task Subscriptions_are_names_independent_of_mailboxes()
    {
        var (store, user) = await ReadyAsync();
        await store.SetSubscribedAsync(user, "Junk", false);
        var before = await store.ListSubscriptionsAsync(user);

        // CREATE does not subscribe (RFC 9051 6.3.4), not even the parents it creates.
        await store.CreateMailboxAsync(user, "Lists/dev");
        Assert.Equal(before, await store.ListSubscriptionsAsync(user));

        // A name that does not exist can be subscribed (RFC 9051 6.3.7); subscribing twice keeps one entry.
        await store.SetSubscribedAsync(user, "Archive/2031", true);
        await store.SetSubscribedAsync(user, "Archive/2031", true);
        await store.SetSubscribedAsync(user, "Lists/dev", true);
        Assert.Equal(before.Append("Archive/2031").Append("Lists/dev").Order(StringComparer.Ordinal), await store.ListSubscriptionsAsync(user));

        // DELETE keeps the subscription (RFC 3501 6.3.4: the server must not remove it unilaterally).
        await store.DeleteMailboxAsync(user, "Lists/dev");
        Assert.Contains("Lists/dev", await store.ListSubscriptionsAsync(user));

        // Unsubscribing a name that is not subscribed, or does not exist, changes nothing and is no error.
        await store.SetSubscribedAsync(user, "Lists/dev", false);
        await store.SetSubscribedAsync(user, "Lists/dev", false);
        await store.SetSubscribedAsync(user, "Never/There", false);
        Assert.Equal(before.Append("Archive/2031").Order(StringComparer.Ordinal), await store.ListSubscriptionsAsync(user));
    }

    [Fact]
    public async Task Subscriptions_are_per_user_inbox_is_case_insensitive_other_names_are_not()
    {
        var (store, alice) = await ReadyAsync();
        var bob = NewUser();
        await store.SetSubscribedAsync(alice, "inbox", false);
        Assert.DoesNotContain("INBOX", await store.ListSubscriptionsAsync(alice));
        await store.SetSubscribedAsync(alice, "InBox/Family", true);
        await store.SetSubscribedAsync(alice, "Ünïcode/ä%|#?\\name", true);
        await store.SetSubscribedAsync(alice, "projects", true);
        var subs = await store.ListSubscriptionsAsync(alice);
        Assert.Contains("INBOX/Family", subs);
        Assert.Contains("Ünïcode/ä%|#?\\name", subs);
        Assert.Contains("projects", subs);
        Assert.DoesNotContain("Projects", subs);
        Assert.Equal(subs.Order(StringComparer.Ordinal), subs);
        Assert.Empty(await store.ListSubscriptionsAsync(bob));
    }

    [Fact]
    public async Task Rename_moves_the_subscriptions_of_the_renamed_mailboxes()
    {
        var (store, user) = await ReadyAsync();
        await store.CreateMailboxAsync(user, "Work");
        await store.CreateMailboxAsync(user, "Work/2026");
        await store.CreateMailboxAsync(user, "Work/2027");
        await store.CreateMailboxAsync(user, "Workshop");
        await store.SetSubscribedAsync(user, "Work", true);
        await store.SetSubscribedAsync(user, "Work/2026", true);
        await store.SetSubscribedAsync(user, "Work/gone", true); // subscribed, does not exist: not renamed
        await store.SetSubscribedAsync(user, "Workshop", true);
        await store.RenameMailboxAsync(user, "Work", "Job");
        var subs = await store.ListSubscriptionsAsync(user);
        Assert.Contains("Job", subs);
        Assert.Contains("Job/2026", subs);
        Assert.DoesNotContain("Job/2027", subs);
        Assert.DoesNotContain("Work", subs);
        Assert.DoesNotContain("Work/2026", subs);
        Assert.Contains("Work/gone", subs);
        Assert.Contains("Workshop", subs);

        // Renaming INBOX moves its messages, not its subscription: INBOX is still there.
        await store.RenameMailboxAsync(user, "INBOX", "Old inbox");
        subs = await store.ListSubscriptionsAsync(user);
        Assert.Contains("INBOX", subs);
        Assert.DoesNotContain("Old inbox", subs);
    }

    [Fact]
    public async Task Rename_moves_children_along()
    {
        var (store, user) = await ReadyAsync();
        await store.CreateMailboxAsync(user, "Work");
        await store.CreateMailboxAsync(user, "Work/2026");
        await store.CreateMailboxAsync(user, "Workshop");
        var a = await store.AppendAsync(user, "Work/2026", Msg());
        var before = (await store.GetMailboxAsync(user, "Work/2026"))!;
        await store.RenameMailboxAsync(user, "Work", "Job");
        Assert.Null(await store.GetMailboxAsync(user, "Work"));
        Assert.Null(await store.GetMailboxAsync(user, "Work/2026"));
        Assert.NotNull(await store.GetMailboxAsync(user, "Job"));
        Assert.NotNull(await store.GetMailboxAsync(user, "Workshop"));
        var child = (await store.GetMailboxAsync(user, "Job/2026"))!;
        Assert.Equal(before.UidValidity, child.UidValidity);
        Assert.Equal(a.Message.MessageRef, Assert.Single(await store.ListMessagesAsync(user, "Job/2026")).MessageRef);
        await Assert.ThrowsAsync<MailboxExistsException>(() => store.RenameMailboxAsync(user, "Job", "Workshop"));
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => store.RenameMailboxAsync(user, "Work", "Other"));
    }

    [Fact]
    public async Task Renaming_inbox_moves_its_messages_and_leaves_it_empty()
    {
        var (store, user) = await ReadyAsync();
        await store.AppendAsync(user, "INBOX", Msg());
        await store.AppendAsync(user, "INBOX", Msg());
        await store.RenameMailboxAsync(user, "INBOX", "Old Inbox");
        var inbox = (await store.GetMailboxAsync(user, "INBOX"))!;
        Assert.Equal(0, inbox.MessageCount);
        Assert.Equal(2, (await store.ListMessagesAsync(user, "Old Inbox")).Count);
        var next = await store.AppendAsync(user, "INBOX", Msg());
        Assert.True(next.Message.Uid >= 3, "INBOX must not reuse UIDs under the same UIDVALIDITY");
    }

    [Fact]
    public async Task Copy_keeps_flags_and_dates_and_reports_the_uid_map()
    {
        var (store, user) = await ReadyAsync();
        await store.AppendAsync(user, "Archive", Msg());
        var m1 = await store.AppendAsync(user, "INBOX", Msg(null, MessageFlags.Flagged));
        var m2 = await store.AppendAsync(user, "INBOX", Msg());
        var result = await store.CopyAsync(user, "INBOX", [m1.Message.Uid, m2.Message.Uid, 99], "Archive");
        var archive = (await store.GetMailboxAsync(user, "Archive"))!;
        Assert.Equal(archive.UidValidity, result.DestinationUidValidity);
        Assert.Equal([(1L, 2L), (2L, 3L)], result.UidMap);
        var copied = await store.ListMessagesAsync(user, "Archive");
        Assert.Equal(3, copied.Count);
        Assert.Contains(MessageFlags.Flagged, copied[1].Flags);
        Assert.Equal(m1.Message.MessageRef, copied[1].MessageRef);
        Assert.Equal(m1.Message.InternalDate, copied[1].InternalDate);
        Assert.Equal(2, (await store.ListMessagesAsync(user, "INBOX")).Count);
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => store.CopyAsync(user, "INBOX", [1], "Nope"));
    }

    [Fact]
    public async Task Move_removes_from_the_source_and_reports_vanished_uids()
    {
        var (store, user) = await ReadyAsync();
        var m1 = await store.AppendAsync(user, "INBOX", Msg("key-1"));
        await store.AppendAsync(user, "INBOX", Msg());
        var mark = (await store.GetMailboxAsync(user, "INBOX"))!.HighestModSeq;
        var result = await store.MoveAsync(user, "INBOX", [m1.Message.Uid], "Junk");
        Assert.Equal([(1L, 1L)], result.UidMap);
        Assert.Equal([2L], (await store.ListMessagesAsync(user, "INBOX")).Select(m => m.Uid));
        Assert.Equal([1L], await store.ListExpungedAsync(user, "INBOX", mark));
        Assert.Single(await store.ListMessagesAsync(user, "Junk"));
        // The moved message keeps its delivery: a redelivery creates no second copy anywhere.
        var redelivered = await store.AppendAsync(user, "INBOX", Msg("key-1"));
        Assert.True(redelivered.AlreadyPresent);
        Assert.Single(await store.ListMessagesAsync(user, "INBOX"));
    }

    [Fact]
    public async Task Users_are_isolated()
    {
        var (store, user) = await ReadyAsync();
        var other = NewUser();
        await store.EnsureUserMailboxesAsync(other);
        await store.AppendAsync(user, "INBOX", Msg("shared-key"));
        var theirs = await store.AppendAsync(other, "INBOX", Msg("shared-key"));
        Assert.False(theirs.AlreadyPresent);
        Assert.Single(await store.ListMessagesAsync(other, "INBOX"));
        await store.CreateMailboxAsync(user, "Mine");
        Assert.Null(await store.GetMailboxAsync(other, "Mine"));
    }

    private static async Task<NewMessage> StoredAsync(IMessageStore messages, string? key = null)
    {
        var id = "ref-" + Guid.NewGuid().ToString("N");
        await using var writer = await messages.CreateAsync(id);
        await writer.WriteAsync("Subject: stored\r\n\r\nbody\r\n"u8.ToArray());
        var stored = await writer.CommitAsync();
        return new NewMessage(id, stored.Size, new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.Zero), [], key);
    }

    private static async Task DeleteAsync(IMailboxStore store, string user, string mailbox, long uid)
    {
        await store.StoreFlagsAsync(user, mailbox, [uid], FlagChange.Add, [MessageFlags.Deleted]);
        Assert.Equal([uid], await store.ExpungeAsync(user, mailbox, [uid]));
    }

    [Fact]
    public async Task A_message_goes_with_its_last_row_and_stays_while_a_copy_or_a_moved_row_references_it()
    {
        var (store, messages) = await CreateStoreWithMessagesAsync();
        var user = NewUser();
        await store.EnsureUserMailboxesAsync(user);
        var copied = await StoredAsync(messages, "key-copied");
        var moved = await StoredAsync(messages);
        var a = await store.AppendAsync(user, "INBOX", copied);
        var b = await store.AppendAsync(user, "INBOX", moved);
        var copy = (await store.CopyAsync(user, "INBOX", [a.Message.Uid], "Archive")).UidMap[0].DestinationUid;
        var move = (await store.MoveAsync(user, "INBOX", [b.Message.Uid], "Trash")).UidMap[0].DestinationUid;
        Assert.True(await messages.ExistsAsync(moved.MessageRef));

        // Expunging nothing flagged deletes nothing.
        Assert.Empty(await store.ExpungeAsync(user, "INBOX"));
        await DeleteAsync(store, user, "INBOX", a.Message.Uid);
        Assert.True(await messages.ExistsAsync(copied.MessageRef));
        await using (var still = await messages.OpenReadAsync(copied.MessageRef))
            Assert.Equal(copied.Size, still!.Length);
        await DeleteAsync(store, user, "Archive", copy);
        Assert.False(await messages.ExistsAsync(copied.MessageRef));
        // The delivery is still remembered: a redelivery is not appended again (and names a message that is gone).
        Assert.True((await store.AppendAsync(user, "INBOX", copied)).AlreadyPresent);

        await DeleteAsync(store, user, "Trash", move);
        Assert.False(await messages.ExistsAsync(moved.MessageRef));
    }

    [Fact]
    public async Task Append_all_appends_every_row_or_none_each_idempotent_on_its_key()
    {
        var (store, user) = await ReadyAsync();
        var message = Msg();
        var appends = new List<(string, NewMessage)>
        {
            ("Archive", message with { DeliveryKey = "q1/u|Archive" }),
            ("inbox", message with { DeliveryKey = "q1/u" }),
            ("Archive", Msg("q2/u")),
        };
        var first = await store.AppendAllAsync(user, appends);
        Assert.Equal([1L, 1L, 2L], first.Select(r => r.Message.Uid));
        Assert.All(first, r => Assert.False(r.AlreadyPresent));
        Assert.Equal(message.MessageRef, first[1].Message.MessageRef);
        Assert.Equal(2, (await store.GetMailboxAsync(user, "Archive"))!.MessageCount);

        // Again (a redelivery): every row already present, nothing appended.
        var again = await store.AppendAllAsync(user, appends);
        Assert.All(again, r => Assert.True(r.AlreadyPresent));
        Assert.Equal(first.Select(r => r.Message.Uid), again.Select(r => r.Message.Uid));
        Assert.Single(await store.ListMessagesAsync(user, "INBOX"));

        // A missing mailbox among them: nothing appended.
        await Assert.ThrowsAsync<MailboxNotFoundException>(() => store.AppendAllAsync(user, [("INBOX", Msg("q3/u")), ("Nowhere", Msg("q3/u|Nowhere"))]));
        Assert.Single(await store.ListMessagesAsync(user, "INBOX"));
        Assert.False((await store.AppendAsync(user, "INBOX", Msg("q3/u"))).AlreadyPresent);
    }

    [Fact]
    public async Task A_message_appended_to_two_mailboxes_at_once_goes_with_its_last_row()
    {
        var (store, messages) = await CreateStoreWithMessagesAsync();
        var user = NewUser();
        await store.EnsureUserMailboxesAsync(user);
        var message = await StoredAsync(messages);
        var rows = await store.AppendAllAsync(user, [("INBOX", message with { DeliveryKey = "d/u" }), ("Archive", message with { DeliveryKey = "d/u|Archive" })]);
        await DeleteAsync(store, user, "INBOX", rows[0].Message.Uid);
        Assert.True(await messages.ExistsAsync(message.MessageRef));
        await DeleteAsync(store, user, "Archive", rows[1].Message.Uid);
        Assert.False(await messages.ExistsAsync(message.MessageRef));
    }

    [Fact]
    public async Task Deleting_a_mailbox_deletes_the_messages_only_it_referenced()
    {
        var (store, messages) = await CreateStoreWithMessagesAsync();
        var user = NewUser();
        await store.EnsureUserMailboxesAsync(user);
        await store.CreateMailboxAsync(user, "Projects");
        var shared = await StoredAsync(messages);
        var only = await StoredAsync(messages);
        var s = await store.AppendAsync(user, "Projects", shared);
        await store.AppendAsync(user, "Projects", only);
        await store.CopyAsync(user, "Projects", [s.Message.Uid], "INBOX");
        await store.DeleteMailboxAsync(user, "Projects");
        Assert.False(await messages.ExistsAsync(only.MessageRef));
        Assert.True(await messages.ExistsAsync(shared.MessageRef));
        Assert.Single(await store.ListMessagesAsync(user, "INBOX"));
    }
}
