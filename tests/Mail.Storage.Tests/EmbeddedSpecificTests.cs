using System.Text;
using Mail.Core.Ports;
using Mail.Storage.Contracts;
using Mail.Storage.Embedded;

namespace Mail.Storage.Tests;

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}

public sealed class SpoolQueueTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _dir.Dispose();

    private SpoolQueue Open() => new(_dir.Path, "inbound", _time);

    private static async Task<List<QueueEntry>> ListAsync(IMessageQueue q)
    {
        var list = new List<QueueEntry>();
        await foreach (var e in q.ListAsync()) list.Add(e);
        return list;
    }

    private string[] Segments() => Directory.GetFiles(Path.Combine(_dir.Path, "inbound"), "*.journal");

    [Fact]
    public async Task Sends_append_to_one_journal_segment_and_create_no_file_per_envelope()
    {
        var q = Open();
        for (var i = 0; i < 5; i++) await q.SendAsync(MessageQueueContract.SampleEnvelope($"S{i}"));
        Assert.Single(Segments());
        Assert.Equal(["dead"], Directory.GetDirectories(Path.Combine(_dir.Path, "inbound")).Select(Path.GetFileName));
        var got = await Open().ReceiveAsync(10, TimeSpan.FromHours(1));
        Assert.Equal(["S0", "S1", "S2", "S3", "S4"], got.Select(l => l.Envelope.QueueId));
    }

    [Fact]
    public async Task A_record_torn_by_a_crash_ends_its_segment_and_everything_before_it_loads()
    {
        var q = Open();
        await q.SendAsync(MessageQueueContract.SampleEnvelope("KEPT"));
        var segment = Segments().Single();
        var intact = RecordsOf(await File.ReadAllBytesAsync(segment));
        // A crash during a send can leave a prefix of its record (that send never returned, nothing was acknowledged)
        // before the zeros written ahead of the end, or a record whose checksum does not match what was written.
        await File.WriteAllBytesAsync(segment, [.. intact, .. intact[..(intact.Length / 2)], .. new byte[4096]]);
        var corrupt = intact.ToArray();
        corrupt[^3] ^= 0x20;
        await File.WriteAllBytesAsync(Path.Combine(_dir.Path, "inbound", "999999999999.journal"), corrupt);

        var after = Open();
        Assert.Equal(1, after.Count);
        var got = await after.ReceiveAsync(10, TimeSpan.FromHours(1));
        Assert.Equal(["KEPT"], got.Select(l => l.Envelope.QueueId));
        Assert.Equal(["KEPT"], (await ListAsync(after)).Select(e => e.Envelope.QueueId));
        // The next instance writes a segment of its own after the damaged ones, and its records load.
        await after.SendAsync(MessageQueueContract.SampleEnvelope("NEXT"));
        Assert.Equal(["KEPT", "NEXT"], (await Open().ReceiveAsync(10, TimeSpan.FromHours(1))).Select(l => l.Envelope.QueueId).Order());
    }

    /// <summary>A segment's records without the zeros written ahead of them (a record ends with its JSON's "}").</summary>
    private static byte[] RecordsOf(byte[] segment) => segment[..(Array.FindLastIndex(segment, b => b != 0) + 1)];

    [Fact]
    public async Task Zeros_written_ahead_of_the_records_read_as_the_end_of_the_journal_after_a_crash()
    {
        var q = Open();
        for (var i = 0; i < 3; i++) await q.SendAsync(MessageQueueContract.SampleEnvelope($"Z{i}"));
        var bytes = await File.ReadAllBytesAsync(Segments().Single());
        // What a crash leaves: the records, then the zero-filled space the next appends would have overwritten.
        Assert.True(bytes.Length > RecordsOf(bytes).Length, "no zeros written ahead of the records");
        var after = Open();
        Assert.Equal(["Z0", "Z1", "Z2"], (await after.ReceiveAsync(10, TimeSpan.FromHours(1))).Select(l => l.Envelope.QueueId));
    }

    [Fact]
    public async Task Envelopes_the_keep_check_refuses_at_load_are_dropped_and_not_listed()
    {
        var q = Open();
        await q.SendAsync(MessageQueueContract.SampleEnvelope("INTACT"));
        await q.SendAsync(MessageQueueContract.SampleEnvelope("TORN"));

        var after = new SpoolQueue(_dir.Path, "inbound", _time, keep: e => e.QueueId != "TORN");
        Assert.Equal((1, 1), (after.Count, after.DroppedAtLoad));
        Assert.Equal(["INTACT"], (await ListAsync(after)).Select(e => e.Envelope.QueueId));
        Assert.Equal(["INTACT"], (await after.ReceiveAsync(10, TimeSpan.FromHours(1))).Select(l => l.Envelope.QueueId));
    }

    [Fact]
    public async Task A_segment_another_instance_wrote_meanwhile_is_neither_overwritten_nor_compacted_away()
    {
        var server = new SpoolQueue(_dir.Path, "inbound", _time, segmentSize: 4 * 1024);
        await server.SendAsync(MessageQueueContract.SampleEnvelope("FIRST"));
        // The CLI (`mail quarantine release`) queues into the same spool while the server runs: a segment of its own.
        await Open().SendAsync(MessageQueueContract.SampleEnvelope("FROM-CLI"));
        for (var i = 0; i < 30; i++)
        {
            await server.SendAsync(MessageQueueContract.SampleEnvelope($"S{i:D2}"));
            foreach (var l in await server.ReceiveAsync(1, TimeSpan.FromHours(1))) await server.CompleteAsync(l);
        }
        // The server rotated past the CLI's segment number without failing a send, and left that segment alone.
        var ids = (await Open().ReceiveAsync(100, TimeSpan.FromHours(1))).Select(l => l.Envelope.QueueId).ToList();
        Assert.Contains("FROM-CLI", ids);
        Assert.DoesNotContain("FIRST", ids);
    }

    [Fact]
    public async Task Concurrent_sends_all_persist_and_are_receivable_after_a_restart()
    {
        var q = Open();
        // Many senders at once share syncs (group commit); every one must still complete and persist.
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => q.SendAsync(MessageQueueContract.SampleEnvelope($"C{i:D2}")))));
        var got = await Open().ReceiveAsync(100, TimeSpan.FromHours(1));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"C{i:D2}").Order(), got.Select(l => l.Envelope.QueueId).Order());
    }

    [Fact]
    public async Task Full_segments_are_compacted_into_the_live_envelopes_and_deleted()
    {
        var q = new SpoolQueue(_dir.Path, "inbound", _time, segmentSize: 16 * 1024);
        await q.SendAsync(MessageQueueContract.SampleEnvelope("WAITING"));
        var waiting = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromHours(1)));
        await q.AbandonAsync(waiting, TimeSpan.FromMinutes(10));
        for (var i = 0; i < 200; i++)
        {
            await q.SendAsync(MessageQueueContract.SampleEnvelope($"M{i:D3}"));
            foreach (var l in await q.ReceiveAsync(1, TimeSpan.FromHours(1))) await q.CompleteAsync(l);
        }
        // 200 envelopes came and went through small segments: only about the live ones remain on disk.
        Assert.True(Segments().Length <= 2, $"{Segments().Length} segments left");
        Assert.True(Segments().Sum(f => new FileInfo(f).Length) < 3 * 16 * 1024);
        var after = Open();
        var listed = Assert.Single(await ListAsync(after));
        Assert.Equal(("WAITING", QueueEntryState.Scheduled, 1), (listed.Envelope.QueueId, listed.State, listed.DeliveryCount));
        _time.Now = _time.Now.AddMinutes(11);
        Assert.Equal(2, Assert.Single(await after.ReceiveAsync(10, TimeSpan.FromHours(1))).DeliveryCount);
    }

    [Fact]
    public async Task A_restart_makes_in_flight_envelopes_receivable_again_and_keeps_schedules_and_counts()
    {
        var q = Open();
        var inFlight = MessageQueueContract.SampleEnvelope("INFLIGHT");
        var delayed = MessageQueueContract.SampleEnvelope("DELAYED");
        var ready = MessageQueueContract.SampleEnvelope("READY");
        await q.SendAsync(inFlight);
        await q.SendAsync(delayed);
        var leases = await q.ReceiveAsync(2, TimeSpan.FromHours(1));
        Assert.Equal(["INFLIGHT", "DELAYED"], leases.Select(l => l.Envelope.QueueId));
        await q.AbandonAsync(leases[1], TimeSpan.FromMinutes(30));
        await q.SendAsync(ready);

        // "Crash": a new instance on the same directory, the old one never settles anything.
        var after = Open();
        var got = await after.ReceiveAsync(10, TimeSpan.FromHours(1));
        Assert.Equal(["INFLIGHT", "READY"], got.Select(l => l.Envelope.QueueId));
        Assert.Equal(2, got[0].DeliveryCount);
        Assert.Equal(1, got[1].DeliveryCount);
        var scheduled = Assert.Single(await ListAsync(after), e => e.Envelope.QueueId == "DELAYED");
        Assert.Equal(QueueEntryState.Scheduled, scheduled.State);
        Assert.Equal(_time.Now.AddMinutes(30), scheduled.VisibleAt);
        _time.Now = _time.Now.AddMinutes(31);
        var late = Assert.Single(await after.ReceiveAsync(10, TimeSpan.FromHours(1)));
        Assert.Equal("DELAYED", late.Envelope.QueueId);
        Assert.Equal(2, late.DeliveryCount);
    }

    [Fact]
    public async Task Lock_expiry_follows_the_clock()
    {
        var q = Open();
        await q.SendAsync(MessageQueueContract.SampleEnvelope());
        Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5)));
        _time.Now = _time.Now.AddMinutes(4);
        Assert.Empty(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5)));
        _time.Now = _time.Now.AddMinutes(2);
        Assert.Equal(2, Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5))).DeliveryCount);
    }

    [Fact]
    public async Task Another_instance_sees_in_flight_and_dead_letters_from_disk()
    {
        var server = Open();
        await server.SendAsync(MessageQueueContract.SampleEnvelope("A"));
        await server.SendAsync(MessageQueueContract.SampleEnvelope("B"));
        var leases = await server.ReceiveAsync(2, TimeSpan.FromMinutes(5));
        await server.DeadLetterAsync(leases[1], "bad");
        // What `mail queue` in another process does: a fresh instance, only ListAsync.
        var cli = await ListAsync(Open());
        Assert.Equal(QueueEntryState.InFlight, Assert.Single(cli, e => e.Envelope.QueueId == "A").State);
        var dead = Assert.Single(cli, e => e.Envelope.QueueId == "B");
        Assert.Equal((QueueEntryState.DeadLettered, "bad"), (dead.State, dead.DeadLetterReason));
        Assert.Empty(await Open().ReceiveAsync(10, TimeSpan.FromMinutes(5)).ContinueWith(t => t.Result.Where(l => l.Envelope.QueueId == "B").ToList()));
    }

    [Fact]
    public async Task Stale_lease_cannot_reschedule_an_envelope_someone_else_holds()
    {
        var q = Open();
        await q.SendAsync(MessageQueueContract.SampleEnvelope());
        var stale = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(1)));
        _time.Now = _time.Now.AddMinutes(2);
        var current = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(10)));
        await q.AbandonAsync(stale, TimeSpan.Zero);
        Assert.Empty(await q.ReceiveAsync(1, TimeSpan.FromMinutes(10)));
        await q.CompleteAsync(current);
        Assert.Empty(await ListAsync(q));
    }

    /// <summary>Long enough that an idle wait ending on its own would fail the test's guard; no test waits for it.</summary>
    private static readonly TimeSpan s_poll = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan s_guard = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_idle_wait_ends_at_once_when_something_is_due_and_is_woken_by_the_next_send()
    {
        var q = Open();
        await q.SendAsync(MessageQueueContract.SampleEnvelope("FIRST"));
        Assert.True(q.WaitForDueAsync(s_poll).IsCompletedSuccessfully);

        Assert.Single(await q.ReceiveAsync(10, TimeSpan.FromMinutes(5)));
        var idle = q.WaitForDueAsync(s_poll);
        Assert.False(idle.IsCompleted);
        await q.SendAsync(MessageQueueContract.SampleEnvelope("SECOND"));
        await idle.WaitAsync(s_guard);
        Assert.Equal("SECOND", Assert.Single(await q.ReceiveAsync(10, TimeSpan.FromMinutes(5))).Envelope.QueueId);
    }

    [Fact]
    public async Task Each_send_wakes_one_idle_worker()
    {
        var q = Open();
        var first = q.WaitForDueAsync(s_poll);
        var second = q.WaitForDueAsync(s_poll);
        await q.SendAsync(MessageQueueContract.SampleEnvelope("A"));
        await first.WaitAsync(s_guard);
        Assert.False(second.IsCompleted);
        Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5)));

        await q.SendAsync(MessageQueueContract.SampleEnvelope("B"));
        await second.WaitAsync(s_guard);
    }

    [Fact]
    public async Task Abandon_without_delay_and_deliver_now_wake_an_idle_worker()
    {
        var q = Open();
        await q.SendAsync(MessageQueueContract.SampleEnvelope("RETRY"));
        var lease = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5)));
        var idle = q.WaitForDueAsync(s_poll);
        await q.AbandonAsync(lease, TimeSpan.Zero);
        await idle.WaitAsync(s_guard);

        lease = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5)));
        await q.AbandonAsync(lease, TimeSpan.FromHours(1));
        idle = q.WaitForDueAsync(s_poll);
        Assert.False(idle.IsCompleted);
        Assert.Equal(1, await q.MakeDueAsync("RETRY"));
        await idle.WaitAsync(s_guard);
        Assert.Equal(3, Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5))).DeliveryCount);
    }

    [Fact]
    public async Task An_idle_wait_ends_when_the_earliest_scheduled_envelope_comes_not_at_the_poll()
    {
        var q = Open();
        var idle = q.WaitForDueAsync(s_poll);
        // Scheduled 1 s ahead of the (hand-moved) clock: the wait, woken to set its timer again, ends about then.
        await q.SendAsync(MessageQueueContract.SampleEnvelope("LATER"), _time.Now.AddSeconds(1));
        await idle.WaitAsync(s_guard);
        var again = q.WaitForDueAsync(s_poll);
        await again.WaitAsync(s_guard);
        _time.Now = _time.Now.AddSeconds(1);
        Assert.Equal("LATER", Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5))).Envelope.QueueId);
    }

    [Fact]
    public async Task Receive_takes_due_envelopes_by_visible_time_then_send_order_past_a_scheduled_backlog()
    {
        var q = Open();
        for (var i = 0; i < 200; i++) await q.SendAsync(MessageQueueContract.SampleEnvelope($"S{i}"), _time.Now.AddMinutes(60 - (i % 50)));
        await q.SendAsync(MessageQueueContract.SampleEnvelope("NOW1"));
        await q.SendAsync(MessageQueueContract.SampleEnvelope("NOW2"));
        await q.SendAsync(MessageQueueContract.SampleEnvelope("EARLY"), _time.Now.AddMinutes(5));
        var now = await q.ReceiveAsync(10, TimeSpan.FromMinutes(5));
        Assert.Equal(["NOW1", "NOW2"], now.Select(l => l.Envelope.QueueId));

        // NOW1's lock expires and it waits again under its own visible time, ahead of EARLY.
        await q.AbandonAsync(now[1], TimeSpan.FromMinutes(7));
        _time.Now = _time.Now.AddMinutes(8);
        var later = await q.ReceiveAsync(3, TimeSpan.FromMinutes(30));
        Assert.Equal(["NOW1", "EARLY", "NOW2"], later.Select(l => l.Envelope.QueueId));
        foreach (var lease in later) await q.CompleteAsync(lease);
        _time.Now = _time.Now.AddMinutes(60);
        Assert.Equal(200, (await q.ReceiveAsync(1000, TimeSpan.FromMinutes(30))).Count);
    }

    [Fact]
    public void Invalid_queue_name_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new SpoolQueue(_dir.Path, "../escape"));
    }
}

public sealed class FileMessageStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData(".hidden")]
    [InlineData("")]
    [InlineData("sp ace")]
    public async Task Unsafe_ids_are_refused(string id)
    {
        var store = new FileMessageStore(_dir.Path);
        await Assert.ThrowsAsync<ArgumentException>(() => store.CreateAsync(id));
        await Assert.ThrowsAsync<ArgumentException>(() => store.OpenReadAsync(id));
    }

    [Fact]
    public async Task Only_the_committed_file_remains_and_readers_never_see_a_partial_one()
    {
        var store = new FileMessageStore(_dir.Path);
        await using (var w = await store.CreateAsync("m1"))
        {
            await w.WriteAsync(Encoding.ASCII.GetBytes("abc"));
            // The bytes so far live in a hidden temp file, not under the id.
            Assert.False(File.Exists(Path.Combine(_dir.Path, "m1")));
            Assert.Single(Directory.GetFiles(_dir.Path, ".tmp-*"));
            await w.CommitAsync();
        }
        Assert.Equal(["m1"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
        Assert.Equal("abc", await File.ReadAllTextAsync(Path.Combine(_dir.Path, "m1")));
    }

    [Fact]
    public async Task Writes_of_every_size_around_the_buffer_are_stored_in_order_with_their_hash()
    {
        var store = new FileMessageStore(_dir.Path);
        var random = new Random(19);
        var expected = new MemoryStream();
        await using (var w = await store.CreateAsync("big"))
        {
            // Header-sized pieces, pieces that overflow the 64 KiB buffer, and pieces larger than it.
            foreach (var size in new[] { 30, 1, 65_000, 600, 64 * 1024, 70_000, 5, 200_000, 17 })
            {
                var piece = new byte[size];
                random.NextBytes(piece);
                expected.Write(piece);
                await w.WriteAsync(piece);
            }
            var stored = await w.CommitAsync();
            Assert.Equal(expected.Length, stored.Size);
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(expected.ToArray())), stored.Sha256);
        }
        Assert.Equal(expected.ToArray(), await File.ReadAllBytesAsync(Path.Combine(_dir.Path, "big")));
    }

    [Fact]
    public async Task Stale_temp_files_from_a_crash_are_removed_on_open()
    {
        var stale = Path.Combine(_dir.Path, ".tmp-crashed");
        await File.WriteAllTextAsync(stale, "half a message");
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddHours(-2));
        var fresh = Path.Combine(_dir.Path, ".tmp-being-written");
        await File.WriteAllTextAsync(fresh, "in progress elsewhere");
        _ = new FileMessageStore(_dir.Path);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(fresh));
    }
}

public sealed class SqliteStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Db => Path.Combine(_dir.Path, "mail.db");

    [Fact]
    public async Task The_group_commit_finds_the_log_sqlite_writes_and_follows_it_when_it_is_replaced()
    {
        if (!OperatingSystem.IsLinux()) return; // the barrier syncs SQLite's log on Linux only (statx)
        var state = new SqliteStateStore(Db);
        await state.PutAsync("p", "k", "v");
        // The log the group commit hands to the barrier is the one SQLite writes.
        var live = new SqliteWriteAheadLog(Db).Current();
        Assert.NotNull(live);
        Assert.True(DurableFile.SameFile(live, Db + "-wal"));
        Assert.Equal("v", (await state.GetAsync("p", "k"))?.Value);

        // SQLite removes its log when the last connection closes and starts another: the handle follows the name.
        var other = Path.Combine(_dir.Path, "other.db");
        await File.WriteAllBytesAsync(other + "-wal", new byte[4096]);
        var log = new SqliteWriteAheadLog(other);
        var first = log.Current();
        Assert.NotNull(first);
        Assert.Same(first, log.Current());
        File.Delete(other + "-wal");
        await File.WriteAllBytesAsync(other + "-wal", new byte[4096]);
        var second = log.Current();
        Assert.NotNull(second);
        Assert.NotSame(first, second);
        Assert.True(first.IsClosed);
        Assert.True(DurableFile.SameFile(second, other + "-wal"));
        File.Delete(other + "-wal");
        Assert.Null(log.Current());
    }

    [Fact]
    public async Task Expiry_follows_the_time_provider()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new SqliteStateStore(Db, time);
        await store.PutAsync("greylist", "t1", "x", time.Now.AddMinutes(5));
        Assert.NotNull(await store.GetAsync("greylist", "t1"));
        time.Now = time.Now.AddMinutes(5);
        Assert.Null(await store.GetAsync("greylist", "t1"));
        Assert.Equal(1, await store.PurgeExpiredAsync(time.Now));
    }

    [Fact]
    public async Task Both_stores_share_one_file_and_survive_reopening()
    {
        var state = new SqliteStateStore(Db);
        var mailboxes = new SqliteMailboxStore(Db);
        await state.PutAsync("p", "k", "v");
        await mailboxes.EnsureUserMailboxesAsync("a@example.org");
        var appended = await mailboxes.AppendAsync("a@example.org", "INBOX", new NewMessage("r1", 10, DateTimeOffset.UtcNow, [], "key"));
        // A second process or a restart constructs them again over the same file.
        var state2 = new SqliteStateStore(Db);
        var mailboxes2 = new SqliteMailboxStore(Db);
        Assert.Equal("v", (await state2.GetAsync("p", "k"))!.Value);
        var again = await mailboxes2.AppendAsync("a@example.org", "INBOX", new NewMessage("r2", 10, DateTimeOffset.UtcNow, [], "key"));
        Assert.True(again.AlreadyPresent);
        Assert.Equal(appended.Message.Uid, again.Message.Uid);
    }

    [Fact]
    public async Task Uidvalidity_is_unique_even_within_one_second()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new SqliteMailboxStore(Db, time);
        await store.EnsureUserMailboxesAsync("a@example.org");
        var values = (await store.ListMailboxesAsync("a@example.org")).Select(m => m.UidValidity).ToList();
        Assert.Equal(values.Count, values.Distinct().Count());
        Assert.All(values, v => Assert.True(v >= time.Now.ToUnixTimeSeconds()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/leading")]
    [InlineData("a//b")]
    public async Task Invalid_mailbox_names_are_refused(string name)
    {
        var store = new SqliteMailboxStore(Db);
        await Assert.ThrowsAsync<MailboxException>(() => store.CreateMailboxAsync("a@example.org", name));
    }

    [Fact]
    public async Task A_database_from_before_the_subscription_table_keeps_its_subscriptions()
    {
        // The schema of earlier builds: subscriptions were a column of the mailbox row.
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Db};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE mailbox (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, name TEXT NOT NULL,
                  uid_validity INTEGER NOT NULL, uid_next INTEGER NOT NULL, highest_modseq INTEGER NOT NULL,
                  special_use TEXT NULL, subscribed INTEGER NOT NULL, UNIQUE (user, name));
                INSERT INTO mailbox(user, name, uid_validity, uid_next, highest_modseq, special_use, subscribed) VALUES
                  ('a@example.org', 'INBOX', 1, 1, 0, NULL, 1),
                  ('a@example.org', 'Work', 2, 1, 0, NULL, 1),
                  ('a@example.org', 'Old', 3, 1, 0, NULL, 0);
                """;
            cmd.ExecuteNonQuery();
        }
        var store = new SqliteMailboxStore(Db);
        Assert.Equal(["INBOX", "Work"], await store.ListSubscriptionsAsync("a@example.org"));
        Assert.Equal(["INBOX", "Old", "Work"], (await store.ListMailboxesAsync("a@example.org")).Select(m => m.Name));
        // The old flag is gone, so unsubscribing sticks and a reopen does not copy it again.
        await store.SetSubscribedAsync("a@example.org", "Work", false);
        var reopened = new SqliteMailboxStore(Db);
        Assert.Equal(["INBOX"], await reopened.ListSubscriptionsAsync("a@example.org"));
        await reopened.CreateMailboxAsync("a@example.org", "New");
        Assert.Equal(["INBOX"], await reopened.ListSubscriptionsAsync("a@example.org"));
    }

    [Fact]
    public async Task Concurrent_updates_of_one_key_each_see_the_value_before_them()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new SqliteStateStore(Db, time);
        await store.PutAsync("trace", "q1", "stale;", time.Now.AddMinutes(1));
        time.Now = time.Now.AddMinutes(1);
        // The expired value reads as missing; then every append finds all those committed before it.
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => store.UpdateAsync("trace", "q1", v => (v ?? "") + i + ";", time.Now.AddDays(1))));
        var parts = (await store.GetAsync("trace", "q1"))!.Value.Split(';', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(), parts.Order());
    }

    [Fact]
    public async Task A_failing_update_changes_nothing_and_the_others_of_its_batch_are_written()
    {
        var store = new SqliteStateStore(Db);
        await store.PutAsync("p", "k", "before");
        var failing = store.UpdateAsync("p", "k", _ => throw new InvalidOperationException("no"));
        var other = store.UpdateAsync("p", "other", v => "written");
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        await other;
        Assert.Equal("before", (await store.GetAsync("p", "k"))!.Value);
        Assert.Equal("written", (await store.GetAsync("p", "other"))!.Value);
    }

    [Fact]
    public async Task Deleting_inbox_is_refused()
    {
        var store = new SqliteMailboxStore(Db);
        await store.EnsureUserMailboxesAsync("a@example.org");
        await Assert.ThrowsAsync<MailboxException>(() => store.DeleteMailboxAsync("a@example.org", "inbox"));
    }
}

public sealed class EmbeddedMessageStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    private string Dir(string name) => Path.Combine(_dir.Path, name);

    public void Dispose() => _dir.Dispose();

    private static async Task WriteAsync(IMessageStore store, string id, string text)
    {
        await using var w = await store.CreateAsync(id);
        await w.WriteAsync(Encoding.ASCII.GetBytes(text));
        await w.CommitAsync();
    }

    private static async Task<string?> ReadAsync(IMessageStore store, string id)
    {
        await using var s = await store.OpenReadAsync(id);
        if (s is null) return null;
        using var reader = new StreamReader(s);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task Copies_go_to_segments_files_of_an_older_data_directory_are_still_read_and_both_survive_a_restart()
    {
        // A data directory from before the copies had segments: one copy as a file.
        await WriteAsync(new FileMessageStore(Dir("messages")), "old-copy", "written as a file");
        using (var originals = new SegmentMessageStore(Dir("originals")))
        using (var copies = new SegmentMessageStore(Dir("copies")))
        {
            var store = new EmbeddedMessageStore(new FileMessageStore(Dir("messages")), originals, copies);
            await WriteAsync(store, "new-copy", "appended to a segment");
            Assert.Equal(["old-copy"], Directory.GetFiles(Dir("messages")).Select(Path.GetFileName));
            Assert.True(copies.Exists("new-copy"));
            Assert.Equal("written as a file", await ReadAsync(store, "old-copy"));
        }
        using (var originals = new SegmentMessageStore(Dir("originals")))
        using (var copies = new SegmentMessageStore(Dir("copies")))
        {
            var store = new EmbeddedMessageStore(new FileMessageStore(Dir("messages")), originals, copies);
            Assert.Equal("appended to a segment", await ReadAsync(store, "new-copy"));
            Assert.Equal("written as a file", await ReadAsync(store, "old-copy"));
            Assert.True(store.Exists("new-copy") && store.Exists("old-copy"));
            await store.DeleteAsync("new-copy");
            await store.DeleteAsync("old-copy");
            Assert.False(store.Exists("new-copy") || store.Exists("old-copy"));
        }
    }

    [Fact]
    public async Task A_process_that_does_not_own_the_copies_segments_writes_a_file_the_owner_reads()
    {
        using var originals = new SegmentMessageStore(Dir("originals"));
        using var ownerCopies = new SegmentMessageStore(Dir("copies"));
        var server = new EmbeddedMessageStore(new FileMessageStore(Dir("messages")), originals, ownerCopies);
        // A second instance on the same directories, as the CLI next to a running server: not the owner.
        using var cliOriginals = new SegmentMessageStore(Dir("originals"));
        using var cliCopies = new SegmentMessageStore(Dir("copies"));
        Assert.False(cliCopies.IsOwner);
        var cli = new EmbeddedMessageStore(new FileMessageStore(Dir("messages")), cliOriginals, cliCopies);
        await WriteAsync(cli, "released", "released by the CLI");
        Assert.True(File.Exists(Path.Combine(Dir("messages"), "released")));
        Assert.Equal("released by the CLI", await ReadAsync(server, "released"));
    }
}

