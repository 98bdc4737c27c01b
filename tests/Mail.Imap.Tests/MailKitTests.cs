using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace Mail.Imap.Tests;

/// <summary>Every command through MailKit's ImapClient over a real socket.</summary>
public sealed class MailKitTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<ImapClient> ConnectAsync(string user = ImapTestServer.Alice)
    {
        var client = new ImapClient { ServerCertificateValidationCallback = ImapTestServer.TrustTestCertificate, Timeout = 15000 };
        await client.ConnectAsync("127.0.0.1", _server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(user, ImapTestServer.Password);
        return client;
    }

    [Fact]
    public async Task Login_creates_special_use_mailboxes_and_list_shows_them()
    {
        using var client = await ConnectAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.SpecialUse));
        var folders = await client.GetFoldersAsync(client.PersonalNamespaces[0]);
        var names = folders.Select(f => f.FullName).ToList();
        foreach (var n in new[] { "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive" }) Assert.Contains(n, names);
        Assert.Equal("Sent", client.GetFolder(SpecialFolder.Sent)!.FullName);
        Assert.Equal("Junk", client.GetFolder(SpecialFolder.Junk)!.FullName);
        Assert.Equal("Archive", client.GetFolder(SpecialFolder.Archive)!.FullName);
        Assert.Equal("Trash", client.GetFolder(SpecialFolder.Trash)!.FullName);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Create_rename_subscribe_status_delete()
    {
        using var client = await ConnectAsync();
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var projects = await root.CreateAsync("Projects", true);
        var sub = await projects!.CreateAsync("Alpha", true);
        Assert.Equal("Projects/Alpha", sub!.FullName);
        await sub!.SubscribeAsync();
        var subscribed = await client.GetFoldersAsync(client.PersonalNamespaces[0], StatusItems.None, true);
        Assert.Contains(subscribed, f => f.FullName == "Projects/Alpha");

        await sub.RenameAsync(projects, "Beta");
        Assert.Equal("Projects/Beta", sub.FullName);
        var all = (await client.GetFoldersAsync(client.PersonalNamespaces[0])).Select(f => f.FullName).ToList();
        Assert.Contains("Projects/Beta", all);
        Assert.DoesNotContain("Projects/Alpha", all);

        await _server.DeliverAsync(ImapTestServer.Alice, "Projects/Beta", ImapTestServer.Message("s1"));
        await _server.DeliverAsync(ImapTestServer.Alice, "Projects/Beta", ImapTestServer.Message("s2"), ["\\Seen"]);
        await sub.StatusAsync(StatusItems.Count | StatusItems.Unread | StatusItems.UidNext | StatusItems.UidValidity | StatusItems.HighestModSeq | StatusItems.Size);
        Assert.Equal(2, sub.Count);
        Assert.Equal(1, sub.Unread);
        Assert.Equal(3u, sub.UidNext!.Value.Id);
        Assert.True(sub.HighestModSeq > 0);
        Assert.True(sub.Size > 0);

        await sub.DeleteAsync();
        all = (await client.GetFoldersAsync(client.PersonalNamespaces[0])).Select(f => f.FullName).ToList();
        Assert.DoesNotContain("Projects/Beta", all);
    }

    [Fact]
    public async Task Non_ascii_mailbox_names_round_trip_in_modified_utf7()
    {
        using var client = await ConnectAsync();
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var f = await root.CreateAsync("Reçus €", true);
        var all = await client.GetFoldersAsync(client.PersonalNamespaces[0]);
        Assert.Contains(all, x => x.FullName == "Reçus €");
        Assert.NotNull(await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "Reçus €"));
        await f!.OpenAsync(FolderAccess.ReadOnly);
    }

    [Fact]
    public async Task Append_returns_appenduid_and_fetch_returns_what_was_appended()
    {
        using var client = await ConnectAsync();
        var msg = new MimeMessage();
        msg.From.Add(new MailboxAddress("Zoë Sender", "zoe@example.org"));
        msg.To.Add(new MailboxAddress("Alice", ImapTestServer.Alice));
        msg.Cc.Add(MailboxAddress.Parse("cc@example.org"));
        msg.Subject = "Quarterly report – ünïcode";
        msg.MessageId = "abc123@example.org";
        var builder = new BodyBuilder { TextBody = "Plain body line 1\nline 2\n", HtmlBody = "<p>Html body</p>" };
        builder.Attachments.Add("data.bin", Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray(), new ContentType("application", "octet-stream"));
        msg.Body = builder.ToMessageBody();
        var date = new DateTimeOffset(2025, 12, 24, 18, 30, 0, TimeSpan.FromHours(1));
        var uid = await client.Inbox.AppendAsync(msg, MessageFlags.Flagged, date);
        Assert.NotNull(uid);

        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(1, client.Inbox.Count);
        var items = await client.Inbox.FetchAsync(new[] { uid!.Value },
            MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure |
            MessageSummaryItems.Size | MessageSummaryItems.InternalDate | MessageSummaryItems.ModSeq);
        var s = Assert.Single(items);
        Assert.Equal(uid.Value, s.UniqueId);
        Assert.True(s.Flags!.Value.HasFlag(MessageFlags.Flagged));
        Assert.Equal("Quarterly report – ünïcode", s.Envelope!.Subject);
        Assert.Equal("Zoë Sender", ((MailboxAddress)s.Envelope.From[0]).Name);
        Assert.Equal("zoe@example.org", ((MailboxAddress)s.Envelope.From[0]).Address);
        Assert.Equal("cc@example.org", ((MailboxAddress)s.Envelope.Cc[0]).Address);
        Assert.Equal("abc123@example.org", s.Envelope.MessageId);
        Assert.Equal(date, s.InternalDate);
        Assert.True(s.ModSeq > 0);
        Assert.Equal("Plain body line 1\nline 2\n".Replace("\n", "\r\n"), ((TextPart)await client.Inbox.GetBodyPartAsync(uid.Value, s.TextBody!)).Text.Replace("\r\n", "\n").Replace("\n", "\r\n"));
        var att = Assert.Single(s.Attachments!);
        Assert.Equal("data.bin", att.FileName);
        var attPart = (MimePart)await client.Inbox.GetBodyPartAsync(uid.Value, att);
        using var ms = new MemoryStream();
        await attPart.Content!.DecodeToAsync(ms);
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray(), ms.ToArray());
        var record = (await _server.Mailboxes.ListMessagesAsync(ImapTestServer.Alice, "INBOX")).Single();
        byte[] stored;
        await using (var raw = (await _server.Messages.OpenReadAsync(record.MessageRef))!)
        using (var copy = new MemoryStream())
        {
            await raw.CopyToAsync(copy);
            stored = copy.ToArray();
        }
        Assert.Equal((uint)stored.Length, s.Size);
        using (var whole = await client.Inbox.GetStreamAsync(uid.Value, ""))
        using (var copy = new MemoryStream())
        {
            await whole.CopyToAsync(copy);
            Assert.Equal(stored, copy.ToArray());
        }
        var full = await client.Inbox.GetMessageAsync(uid.Value);
        Assert.Equal(msg.Subject, full.Subject);
        Assert.Equal(3, full.Attachments.Count() + full.BodyParts.OfType<TextPart>().Count());
    }

    [Fact]
    public async Task Body_fetch_sets_seen_but_peek_does_not_and_partial_fetch_returns_the_range()
    {
        var body = string.Concat(Enumerable.Range(0, 200).Select(i => $"line {i:D3} of the body\r\n"));
        var delivered = await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("big", body));
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var uid = new UniqueId((uint)delivered.Message.Uid);

        using (var stream = await client.Inbox.GetStreamAsync(uid, "TEXT", 10, 30))
        using (var reader = new StreamReader(stream))
            Assert.Equal(body.Substring(10, 30), await reader.ReadToEndAsync());
        var headers = await client.Inbox.GetHeadersAsync(uid);
        Assert.Equal("big", headers[HeaderId.Subject]);
        var f = (await client.Inbox.FetchAsync(new[] { uid }, MessageSummaryItems.Flags))[0];
        Assert.False(f.Flags!.Value.HasFlag(MessageFlags.Seen)); // BODY.PEEK

        await client.Inbox.GetMessageAsync(uid); // MailKit fetches with BODY.PEEK[]
        f = (await client.Inbox.FetchAsync(new[] { uid }, MessageSummaryItems.Flags))[0];
        Assert.False(f.Flags!.Value.HasFlag(MessageFlags.Seen));

        // A non-PEEK fetch sets \Seen, reports it in the same response, and other sessions learn of it.
        await using var raw = await RawImapClient.ConnectAsync(_server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "SELECT INBOX");
        var r = await raw.CommandAsync("f", "FETCH 1 BODY[TEXT]<0.9>");
        Assert.Equal("* 1 FETCH (BODY[TEXT]<0> {9}", r[0]);
        Assert.Equal("line 000  FLAGS (\\Seen))", r[1]);
        var rec = (await _server.Mailboxes.ListMessagesAsync(ImapTestServer.Alice, "INBOX")).Single();
        Assert.Contains("\\Seen", rec.Flags);
        await client.NoOpAsync();
        f = (await client.Inbox.FetchAsync(new[] { uid }, MessageSummaryItems.Flags))[0];
        Assert.True(f.Flags!.Value.HasFlag(MessageFlags.Seen));
    }

    [Fact]
    public async Task Store_search_copy_move_expunge_with_uidplus()
    {
        for (var i = 1; i <= 5; i++)
            await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"msg {i}", $"body number {i}\r\n", from: $"sender{i}@example.org"),
                date: new DateTimeOffset(2026, 1, i, 12, 0, 0, TimeSpan.Zero));
        using var client = await ConnectAsync();
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(5, inbox.Count);
        var uids = await inbox.SearchAsync(SearchQuery.All);
        Assert.Equal(5, uids.Count);

        await inbox.AddFlagsAsync(new[] { uids[0], uids[1] }, MessageFlags.Seen | MessageFlags.Flagged, true);
        await inbox.RemoveFlagsAsync(uids[1], MessageFlags.Flagged, true);
        await inbox.AddFlagsAsync(uids[2], MessageFlags.None, new HashSet<string> { "$Important" }, true);
        Assert.Equal(new[] { uids[2], uids[3], uids[4] }, await inbox.SearchAsync(SearchQuery.NotSeen));
        Assert.Equal(new[] { uids[0] }, await inbox.SearchAsync(SearchQuery.Flagged));
        Assert.Equal(new[] { uids[2] }, await inbox.SearchAsync(SearchQuery.HasKeyword("$Important")));
        Assert.Equal(new[] { uids[3] }, await inbox.SearchAsync(SearchQuery.SubjectContains("msg 4")));
        Assert.Equal(new[] { uids[4] }, await inbox.SearchAsync(SearchQuery.FromContains("sender5")));
        Assert.Equal(new[] { uids[1] }, await inbox.SearchAsync(SearchQuery.BodyContains("number 2")));
        Assert.Equal(new[] { uids[0], uids[1] }, await inbox.SearchAsync(SearchQuery.DeliveredBefore(new DateTime(2026, 1, 3))));
        Assert.Equal(new[] { uids[2] }, await inbox.SearchAsync(SearchQuery.DeliveredOn(new DateTime(2026, 1, 3))));
        Assert.Equal(new[] { uids[0], uids[4] }, await inbox.SearchAsync(SearchQuery.Or(SearchQuery.FromContains("sender1"), SearchQuery.FromContains("sender5"))));
        Assert.Equal(4, (await inbox.SearchAsync(SearchQuery.Not(SearchQuery.FromContains("sender1")))).Count);
        Assert.Equal(5, (await inbox.SearchAsync(SearchQuery.LargerThan(10))).Count);
        Assert.Empty(await inbox.SearchAsync(SearchQuery.SmallerThan(10)));
        Assert.Equal(new[] { uids[1] }, await inbox.SearchAsync(SearchQuery.HeaderContains("Subject", "msg 2")));

        var copied = await inbox.CopyToAsync(new[] { uids[0], uids[1] }, client.GetFolder("Archive"));
        Assert.Equal(2, copied.Destination.Count);
        var archive = await _server.Mailboxes.ListMessagesAsync(ImapTestServer.Alice, "Archive");
        Assert.Equal(copied.Destination.Select(u => (long)u.Id), archive.Select(m => m.Uid));

        var moved = await inbox.MoveToAsync(uids[2], client.GetFolder("Junk"));
        Assert.NotNull(moved);
        Assert.Equal(4, inbox.Count);
        Assert.Single(await _server.Mailboxes.ListMessagesAsync(ImapTestServer.Alice, "Junk"));

        await inbox.AddFlagsAsync(new[] { uids[3], uids[4] }, MessageFlags.Deleted, true);
        await inbox.ExpungeAsync(new[] { uids[3] }); // UID EXPUNGE
        Assert.Equal(3, inbox.Count);
        await inbox.ExpungeAsync();
        Assert.Equal(2, inbox.Count);
        Assert.Equal(new[] { uids[0], uids[1] }, await inbox.SearchAsync(SearchQuery.All));
    }

    [Fact]
    public async Task Condstore_changedsince_and_unchangedsince()
    {
        for (var i = 1; i <= 3; i++) await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"c{i}"));
        using var client = await ConnectAsync();
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.CondStore));
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        var before = inbox.HighestModSeq;
        var all = await inbox.SearchAsync(SearchQuery.All);
        await inbox.AddFlagsAsync(all[1], MessageFlags.Answered, true);
        var changed = await inbox.FetchAsync(0, -1, before, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.ModSeq);
        var only = Assert.Single(changed);
        Assert.Equal(all[1], only.UniqueId);
        Assert.True(only.ModSeq > before);

        // UNCHANGEDSINCE older than the message's MODSEQ: refused and reported as MODIFIED.
        var failed = await inbox.StoreAsync(new[] { all[1] }, new StoreFlagsRequest(StoreAction.Add, MessageFlags.Flagged) { UnchangedSince = before, Silent = true });
        Assert.Equal(new[] { all[1] }, failed);
        var ok = await inbox.StoreAsync(new[] { all[2] }, new StoreFlagsRequest(StoreAction.Add, MessageFlags.Flagged) { UnchangedSince = only.ModSeq!.Value, Silent = true });
        Assert.Empty(ok);
        var found = await inbox.SearchAsync(SearchQuery.ChangedSince(before));
        Assert.Equal(new[] { all[1], all[2] }, found);
    }

    [Fact]
    public async Task Examine_is_read_only()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("ro"));
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        await client.Inbox.GetMessageAsync(0);
        var rec = (await _server.Mailboxes.ListMessagesAsync(ImapTestServer.Alice, "INBOX")).Single();
        Assert.DoesNotContain("\\Seen", rec.Flags);
        await Assert.ThrowsAnyAsync<Exception>(() => client.Inbox.AddFlagsAsync(0, MessageFlags.Deleted, true));
    }

    [Fact]
    public async Task Starttls_and_implicit_tls_work_and_logindisabled_without_tls_off_loopback_policy()
    {
        await using var strict = await ImapTestServer.StartAsync(o => o.AllowPlaintextLoginOnLoopback = false);
        using (var plain = new ImapClient { Timeout = 15000 })
        {
            await plain.ConnectAsync("127.0.0.1", strict.Port, SecureSocketOptions.None);
            Assert.True(plain.Capabilities.HasFlag(ImapCapabilities.LoginDisabled));
            Assert.True(plain.Capabilities.HasFlag(ImapCapabilities.StartTLS));
            await Assert.ThrowsAnyAsync<Exception>(() => plain.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password));
        }
        using (var tls = new ImapClient { ServerCertificateValidationCallback = ImapTestServer.TrustTestCertificate, Timeout = 15000 })
        {
            await tls.ConnectAsync("127.0.0.1", strict.Port, SecureSocketOptions.StartTls);
            Assert.True(tls.IsSecure);
            Assert.False(tls.Capabilities.HasFlag(ImapCapabilities.LoginDisabled));
            await tls.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
            await tls.Inbox.OpenAsync(FolderAccess.ReadOnly);
        }
        using (var imaps = new ImapClient { ServerCertificateValidationCallback = ImapTestServer.TrustTestCertificate, Timeout = 15000 })
        {
            await imaps.ConnectAsync("127.0.0.1", strict.Tls.Port, SecureSocketOptions.SslOnConnect);
            Assert.True(imaps.IsSecure);
            await imaps.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
            await imaps.Inbox.OpenAsync(FolderAccess.ReadOnly);
        }
    }

    [Fact]
    public async Task Users_are_isolated()
    {
        await _server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("for alice only"));
        using (var alice = await ConnectAsync())
        {
            var root = alice.GetFolder(alice.PersonalNamespaces[0]);
            await root!.CreateAsync("AlicePrivate", true);
        }
        using var bob = await ConnectAsync(ImapTestServer.Bob);
        await bob.Inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(0, bob.Inbox.Count);
        var names = (await bob.GetFoldersAsync(bob.PersonalNamespaces[0])).Select(f => f.FullName).ToList();
        Assert.DoesNotContain("AlicePrivate", names);
        await Assert.ThrowsAsync<FolderNotFoundException>(() => bob.GetFolderAsync("AlicePrivate"));
        Assert.Empty(await bob.Inbox.SearchAsync(SearchQuery.SubjectContains("alice")));
    }
}
