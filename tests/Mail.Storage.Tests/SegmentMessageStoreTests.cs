using System.Text;
using Mail.Core.Ports;
using Mail.Storage.Embedded;

namespace Mail.Storage.Tests;

public sealed class SegmentMessageStoreTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<SegmentMessageStore> _open = [];

    public void Dispose()
    {
        foreach (var s in _open) s.Dispose();
        _dir.Dispose();
    }

    private string Dir => Path.Combine(_dir.Path, "originals");

    private SegmentMessageStore Open(long segmentSize = SegmentMessageStore.DefaultSegmentSize)
    {
        var s = new SegmentMessageStore(Dir, segmentSize);
        _open.Add(s);
        return s;
    }

    /// <summary>"Crash": the instance is dropped without settling anything (no close: the open segments keep their
    /// zeros and get no index file) and its owner lock released.</summary>
    private void Abandon(SegmentMessageStore s)
    {
        s.Crash();
        _open.Remove(s);
    }

    private static async Task<StoredMessage> PutAsync(IMessageStore store, string id, string text)
    {
        await using var w = await store.CreateAsync(id);
        await w.WriteAsync(Encoding.ASCII.GetBytes(text));
        return await w.CommitAsync();
    }

    private static async Task<string?> ReadAsync(IMessageStore store, string id)
    {
        await using var s = await store.OpenReadAsync(id);
        if (s is null) return null;
        using var r = new StreamReader(s, Encoding.ASCII);
        return await r.ReadToEndAsync();
    }

    private string[] SegmentFiles() => Directory.GetFiles(Dir, "*.seg");

    [Fact]
    public async Task Committed_messages_survive_a_restart_and_deleted_ones_stay_deleted()
    {
        var s = Open();
        await PutAsync(s, "A", "first message\r\n");
        await PutAsync(s, "B", "second message\r\n");
        await PutAsync(s, "C", "third\r\n");
        await s.DeleteAsync("B");
        Abandon(s);

        var after = Open();
        Assert.Equal("first message\r\n", await ReadAsync(after, "A"));
        Assert.Null(await ReadAsync(after, "B"));
        Assert.Equal("third\r\n", await ReadAsync(after, "C"));
    }

    [Fact]
    public async Task A_message_larger_than_the_write_buffer_streams_out_and_loads_after_a_restart()
    {
        var s = Open();
        var big = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{i:D9}\r\n")); // 220,000 octets
        await using (var w = await s.CreateAsync("BIG"))
        {
            foreach (var chunk in big.Chunk(7000)) await w.WriteAsync(Encoding.ASCII.GetBytes(chunk));
            Assert.Equal(big.Length, (await w.CommitAsync()).Size);
        }
        await PutAsync(s, "AFTER", "after\r\n");
        Abandon(s);
        var after = Open();
        Assert.Equal(big, await ReadAsync(after, "BIG"));
        Assert.Equal("after\r\n", await ReadAsync(after, "AFTER"));
    }

    [Fact]
    public async Task Sequential_messages_share_one_segment_file_and_create_no_file_each()
    {
        var s = Open();
        for (var i = 0; i < 50; i++) await PutAsync(s, $"M{i:D2}", new string('x', 1000));
        Assert.Single(SegmentFiles());
    }

    [Fact]
    public async Task Concurrent_small_messages_are_appended_to_one_shared_segment_and_all_read_back()
    {
        var s = Open();
        var writers = new List<IMessageWriter>();
        for (var i = 0; i < 5; i++) writers.Add(await s.CreateAsync($"W{i}"));
        // Interleaved chunks: each message stays in its writer's buffer and is appended whole at commit.
        for (var chunk = 0; chunk < 3; chunk++)
        {
            for (var i = 0; i < 5; i++) await writers[i].WriteAsync(Encoding.ASCII.GetBytes($"w{i}c{chunk};"));
        }
        await Task.WhenAll(writers.Select(w => w.CommitAsync()));
        foreach (var w in writers) await w.DisposeAsync();
        Assert.Single(SegmentFiles());
        Abandon(s);
        var after = Open();
        for (var i = 0; i < 5; i++) Assert.Equal($"w{i}c0;w{i}c1;w{i}c2;", await ReadAsync(after, $"W{i}"));
    }

    [Fact]
    public async Task Concurrent_large_messages_stream_into_segments_of_their_own_beside_the_shared_one()
    {
        var s = Open();
        var writers = new List<IMessageWriter>();
        for (var i = 0; i < 3; i++) writers.Add(await s.CreateAsync($"BIG{i}"));
        // 40 KiB chunks, interleaved: past its 64 KiB buffer each writer streams out, so nothing is held whole in memory.
        for (var chunk = 0; chunk < 5; chunk++)
        {
            for (var i = 0; i < 3; i++) await writers[i].WriteAsync(Encoding.ASCII.GetBytes(new string((char)('a' + i), 40 * 1024)));
            await PutAsync(s, $"SMALL{chunk}", $"small {chunk}\r\n");
        }
        await Task.WhenAll(writers.Select(w => w.CommitAsync()));
        foreach (var w in writers) await w.DisposeAsync();
        Assert.Equal(4, SegmentFiles().Length);
        Abandon(s);
        var after = Open();
        for (var i = 0; i < 3; i++) Assert.Equal(new string((char)('a' + i), 5 * 40 * 1024), await ReadAsync(after, $"BIG{i}"));
        for (var chunk = 0; chunk < 5; chunk++) Assert.Equal($"small {chunk}\r\n", await ReadAsync(after, $"SMALL{chunk}"));
    }

    [Fact]
    public async Task A_record_torn_by_a_crash_is_ignored_and_what_came_before_loads()
    {
        var s = Open();
        await PutAsync(s, "KEPT", "kept\r\n");
        await PutAsync(s, "TORN", "this one is torn by the crash\r\n");
        Abandon(s);
        var file = SegmentFiles().Single();
        var bytes = await File.ReadAllBytesAsync(file);
        // The end of the last record (a crash leaves the zeros written ahead after it), less a few bytes.
        var end = Encoding.ASCII.GetString(bytes).LastIndexOf("SMRE", StringComparison.Ordinal) + 4;
        await File.WriteAllBytesAsync(file, bytes[..(end - 6)]);

        var after = Open();
        Assert.Equal("kept\r\n", await ReadAsync(after, "KEPT"));
        Assert.False(await after.ExistsAsync("TORN"));
    }

    [Fact]
    public async Task A_record_whose_data_does_not_match_its_checksum_is_not_loaded()
    {
        var s = Open();
        await PutAsync(s, "GOOD", "good\r\n");
        await PutAsync(s, "BAD", "data the disk never wrote\r\n");
        Abandon(s);
        var file = SegmentFiles().Single();
        var bytes = await File.ReadAllBytesAsync(file);
        var at = Encoding.ASCII.GetString(bytes).IndexOf("never", StringComparison.Ordinal);
        bytes[at] = 0; // as if that page never reached the disk
        await File.WriteAllBytesAsync(file, bytes);

        var after = Open();
        Assert.True(await after.ExistsAsync("GOOD"));
        Assert.False(await after.ExistsAsync("BAD"));
    }

    [Fact]
    public async Task An_abandoned_write_is_overwritten_by_the_next_message_and_never_loads()
    {
        var s = Open();
        await using (var w = await s.CreateAsync("ABANDONED"))
        {
            await w.WriteAsync(Encoding.ASCII.GetBytes(new string('a', 5000)));
        }
        await PutAsync(s, "NEXT", "next\r\n");
        Assert.False(await s.ExistsAsync("ABANDONED"));
        Abandon(s);
        var after = Open();
        Assert.False(await after.ExistsAsync("ABANDONED"));
        Assert.Equal("next\r\n", await ReadAsync(after, "NEXT"));
    }

    [Fact]
    public async Task A_full_segment_whose_messages_are_all_deleted_is_removed()
    {
        var s = Open(segmentSize: 4096);
        for (var i = 0; i < 12; i++) await PutAsync(s, $"M{i:D2}", new string('y', 1000));
        Assert.True(SegmentFiles().Length >= 3);
        for (var i = 0; i < 12; i++) await s.DeleteAsync($"M{i:D2}");
        // Only the segment still open for writing remains (it is reused until full).
        Assert.True(SegmentFiles().Length <= 1, $"{SegmentFiles().Length} segments left");
        Abandon(s);
        var after = Open();
        Assert.Empty(SegmentFiles());
        Assert.Equal(0, after.SegmentCount);
    }

    [Fact]
    public async Task Segments_pinned_by_a_few_long_lived_originals_are_compacted_into_fresh_ones()
    {
        var s = Open(segmentSize: 8 * 1024);
        for (var i = 0; i < 40; i++) await PutAsync(s, $"M{i:D2}", $"message {i:D2} " + new string('z', 990));
        var before = SegmentFiles().Length;
        Assert.True(before >= 4, $"{before} segments");
        // Every fifth message stays (kept for outbound, a quarantine...); the rest are delivered and deleted.
        for (var i = 0; i < 40; i++)
        {
            if (i % 5 != 0) await s.DeleteAsync($"M{i:D2}");
        }
        Assert.True(SegmentFiles().Length < before, $"{SegmentFiles().Length} segments of {before} left");
        for (var i = 0; i < 40; i += 5) Assert.Equal($"message {i:D2} " + new string('z', 990), await ReadAsync(s, $"M{i:D2}"));
        Abandon(s);

        var after = Open(segmentSize: 8 * 1024);
        await after.StartupCompaction;
        for (var i = 0; i < 40; i++)
        {
            if (i % 5 == 0) Assert.Equal($"message {i:D2} " + new string('z', 990), await ReadAsync(after, $"M{i:D2}"));
            else Assert.False(await after.ExistsAsync($"M{i:D2}"));
        }
        var total = SegmentFiles().Sum(f => new FileInfo(f).Length);
        // At most about twice what is live (8 records of ~1 KiB), plus the segment still open for writing and the
        // zeros written ahead of its end (a segment's worth at this size).
        Assert.True(total < 3 * 8 * 1040 + 2 * 8 * 1024, $"{total} bytes on disk for 8 kept messages");
    }

    [Fact]
    public async Task A_message_opened_before_its_segment_is_removed_or_compacted_still_reads_whole()
    {
        var s = Open(segmentSize: 8 * 1024);
        for (var i = 0; i < 40; i++) await PutAsync(s, $"M{i:D2}", $"message {i:D2} " + new string((char)('a' + i % 26), 990));
        var before = SegmentFiles();
        // Opened before the deletes: a FETCH in progress while the message, or its neighbours, are expunged.
        var held = new List<(int I, Stream Stream)>();
        for (var i = 0; i < 40; i++) held.Add((i, (await s.OpenReadAsync($"M{i:D2}"))!));
        try
        {
            for (var i = 0; i < 40; i++)
            {
                if (i % 5 != 0) await s.DeleteAsync($"M{i:D2}");
            }
            // Emptied segments are removed and pinned ones compacted although streams on them are open: an open stream
            // does not keep a segment's name.
            Assert.True(before.Count(File.Exists) < before.Length, "no segment removed while streams were open");
            foreach (var (i, stream) in held)
            {
                using var r = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                Assert.Equal($"message {i:D2} " + new string((char)('a' + i % 26), 990), await r.ReadToEndAsync());
            }
        }
        finally
        {
            foreach (var (_, stream) in held) await stream.DisposeAsync();
        }
        Assert.Null(await s.OpenReadAsync("M01"));
        // The kept messages read again (through the handles the store keeps for the segments left), and no handle of
        // this process is left on a removed segment: it would keep the file's space until the process ends.
        for (var i = 0; i < 40; i += 5) Assert.Equal($"message {i:D2} " + new string((char)('a' + i % 26), 990), await ReadAsync(s, $"M{i:D2}"));
        if (OperatingSystem.IsLinux())
        {
            var removed = Directory.GetFiles("/proc/self/fd").Select(fd => new FileInfo(fd).LinkTarget).Where(t => t is not null && t.StartsWith(Dir, StringComparison.Ordinal) && t.EndsWith("(deleted)", StringComparison.Ordinal)).ToList();
            Assert.Empty(removed);
        }
    }

    [Fact]
    public async Task A_message_file_opened_before_it_is_deleted_or_replaced_still_reads_whole()
    {
        var files = new FileMessageStore(Path.Combine(_dir.Path, "messages"));
        await PutAsync(files, "F1", "first " + new string('f', 5000));
        await PutAsync(files, "F2", "second");
        await using var deleted = (await files.OpenReadAsync("F1"))!;
        await using var replaced = (await files.OpenReadAsync("F2"))!;
        Assert.Equal(5006, deleted.Length);
        await files.DeleteAsync("F1");
        await PutAsync(files, "F2", "second, replaced");
        // A partial read from an offset, as BODY[]<start.length> does.
        deleted.Position = 6;
        var buffer = new byte[5000];
        var n = 0;
        while (n < buffer.Length && await deleted.ReadAsync(buffer.AsMemory(n)) is var k and > 0) n += k;
        Assert.Equal(new string('f', 5000), Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(0, await deleted.ReadAsync(buffer));
        using (var r = new StreamReader(replaced, Encoding.ASCII, leaveOpen: true)) Assert.Equal("second", await r.ReadToEndAsync());
        Assert.Null(await files.OpenReadAsync("F1"));
        Assert.Equal("second, replaced", await ReadAsync(files, "F2"));
    }

    [Fact]
    public async Task Zeros_written_ahead_of_the_records_read_as_the_end_of_a_segment_after_a_crash()
    {
        var s = Open();
        for (var i = 0; i < 3; i++) await PutAsync(s, $"Z{i}", $"message {i}\r\n");
        var segment = Assert.Single(SegmentFiles());
        // A crash now leaves the open segment with its records followed by the zeros appends would have overwritten.
        var crashed = Path.Combine(_dir.Path, "crashed");
        Directory.CreateDirectory(crashed);
        File.Copy(segment, Path.Combine(crashed, Path.GetFileName(segment)));
        Assert.True(new FileInfo(segment).Length > 3 * 64, "no zeros written ahead of the records");
        using var after = new SegmentMessageStore(crashed);
        for (var i = 0; i < 3; i++) Assert.Equal($"message {i}\r\n", await ReadAsync(after, $"Z{i}"));
        await PutAsync(after, "NEXT", "next\r\n");
        Assert.Equal("next\r\n", await ReadAsync(after, "NEXT"));
    }

    [Fact]
    public async Task A_sealed_segment_keeps_no_zeros_beyond_its_records()
    {
        var s = Open(segmentSize: 4096);
        for (var i = 0; i < 6; i++) await PutAsync(s, $"M{i}", new string('x', 1500));
        var sealedSegment = SegmentFiles().Order().First();
        var bytes = await File.ReadAllBytesAsync(sealedSegment);
        // A record ends with its trailer magic "SMRE": the file ends exactly there.
        Assert.Equal("SMRE"u8.ToArray(), bytes[^4..]);
    }

    [Fact]
    public async Task Committing_an_id_again_replaces_it_across_a_restart()
    {
        var s = Open();
        await PutAsync(s, "X", "old\r\n");
        await PutAsync(s, "X", "new\r\n");
        Assert.Equal("new\r\n", await ReadAsync(s, "X"));
        Abandon(s);
        Assert.Equal("new\r\n", await ReadAsync(Open(), "X"));
    }

    [Fact]
    public async Task A_second_instance_while_one_runs_never_removes_segment_files()
    {
        var server = Open(segmentSize: 1024);
        await PutAsync(server, "S1", new string('s', 2000));
        // What the `mail` CLI does next to a running server: it reads and may delete, but is not the owner.
        var cli = Open(segmentSize: 1024);
        Assert.True(server.IsOwner);
        Assert.False(cli.IsOwner);
        await cli.DeleteAsync("S1");
        Assert.Single(SegmentFiles());
        // The deletion is on disk for the next start.
        Abandon(server);
        Abandon(cli);
        Assert.False(await Open().ExistsAsync("S1"));
    }
    [Fact]
    public async Task Deletions_marked_by_the_server_and_by_a_second_instance_in_one_segment_all_stay_deleted()
    {
        var server = Open();
        foreach (var id in new[] { "A", "B", "C", "D" }) await PutAsync(server, id, $"message {id}\r\n");
        var cli = Open();
        // The server keeps the segment's deletion marks open after its first; the CLI's mark lands between two of its
        // own, and the server's next must not overwrite it.
        await server.DeleteAsync("A");
        await cli.DeleteAsync("B");
        await server.DeleteAsync("C");
        Abandon(server);
        Abandon(cli);

        var after = Open();
        Assert.Null(await ReadAsync(after, "A"));
        Assert.Null(await ReadAsync(after, "B"));
        Assert.Null(await ReadAsync(after, "C"));
        Assert.Equal("message D\r\n", await ReadAsync(after, "D"));
    }

    private string[] IndexFiles() => Directory.GetFiles(Dir, "*.idx");

    private static string Body(int i) => $"message {i:D3} " + new string((char)('a' + i % 26), 300 + i % 7) + "\r\n";

    /// <summary>Many messages over many small segments, each sealed one indexed; the instance then "crashes".</summary>
    private async Task<SegmentMessageStore> FillAsync(int count)
    {
        var s = Open(segmentSize: 4096);
        for (var i = 0; i < count; i++) await PutAsync(s, $"M{i:D3}", Body(i));
        await s.Indexing;
        return s;
    }

    [Fact]
    public async Task A_restart_loads_sealed_segments_from_their_index_files_without_reading_the_messages()
    {
        // 305: the last segment is left open (12 of these fill one).
        var s = await FillAsync(305);
        var sealedSegments = SegmentFiles().Order().ToArray()[..^1];
        Assert.True(sealedSegments.Length >= 20, $"{sealedSegments.Length} sealed segments");
        // Every sealed segment has its index; the one still open for writing has none yet.
        Assert.Equal(string.Join(" ", sealedSegments.Select(f => Path.GetFileName(Path.ChangeExtension(f, ".idx")))), string.Join(" ", IndexFiles().Order().Select(Path.GetFileName)));
        Abandon(s);
        // Damage one message's data in a sealed segment: a start that scanned the data would fail its checksum and
        // drop it and every record after it in that segment; a start from the index never reads it.
        var damaged = sealedSegments[3];
        var bytes = await File.ReadAllBytesAsync(damaged);
        var at = Encoding.ASCII.GetString(bytes).IndexOf("message ", StringComparison.Ordinal) + 8;
        bytes[at] = (byte)'X';
        await File.WriteAllBytesAsync(damaged, bytes);

        var after = Open(segmentSize: 4096);
        var changed = 0;
        for (var i = 0; i < 305; i++)
        {
            var text = await ReadAsync(after, $"M{i:D3}");
            Assert.NotNull(text);
            if (text != Body(i)) changed++;
        }
        Assert.Equal(1, changed);
        // The segment the previous run left open (records, then zeros) is scanned, and indexed now.
        await after.Indexing;
        Assert.Equal(string.Join(" ", SegmentFiles().Order().Select(f => Path.GetFileName(Path.ChangeExtension(f, ".idx")))), string.Join(" ", IndexFiles().Order().Select(Path.GetFileName)));
    }

    [Fact]
    public async Task A_missing_or_corrupt_index_file_is_ignored_and_rebuilt_from_its_segment()
    {
        var s = await FillAsync(120);
        Abandon(s);
        var indexes = IndexFiles().Order().ToArray();
        Assert.True(indexes.Length >= 4, $"{indexes.Length} index files");
        var originals = indexes.ToDictionary(f => f, File.ReadAllBytes);
        File.Delete(indexes[0]);
        var corrupt = (byte[])originals[indexes[1]].Clone();
        corrupt[20] ^= 0x01; // inside the first record's entry: the checksum no longer matches
        await File.WriteAllBytesAsync(indexes[1], corrupt);
        // Consistent with itself but not with its segment (an index left by a removed segment of the same number).
        await File.WriteAllBytesAsync(indexes[2], originals[indexes[3]]);

        var after = Open(segmentSize: 4096);
        for (var i = 0; i < 120; i++) Assert.Equal(Body(i), await ReadAsync(after, $"M{i:D3}"));
        await after.Indexing;
        foreach (var f in indexes) Assert.Equal(originals[f], await File.ReadAllBytesAsync(f));
    }

    [Fact]
    public async Task A_torn_last_record_after_what_the_index_covers_is_skipped()
    {
        var s = await FillAsync(40);
        await PutAsync(s, "LAST", "the last message, torn by the crash\r\n");
        Abandon(s);
        var open = SegmentFiles().Order().Last();
        var bytes = await File.ReadAllBytesAsync(open);
        var end = Encoding.ASCII.GetString(bytes).LastIndexOf("SMRE", StringComparison.Ordinal) + 4;
        await File.WriteAllBytesAsync(open, bytes[..(end - 6)]);

        var after = Open(segmentSize: 4096);
        Assert.False(await after.ExistsAsync("LAST"));
        for (var i = 0; i < 40; i++) Assert.Equal(Body(i), await ReadAsync(after, $"M{i:D3}"));
        await after.Indexing;
        // Indexed as far as its intact records go; the next start agrees.
        Abandon(after);
        var again = Open(segmentSize: 4096);
        Assert.False(await again.ExistsAsync("LAST"));
        for (var i = 0; i < 40; i++) Assert.Equal(Body(i), await ReadAsync(again, $"M{i:D3}"));
    }

    [Fact]
    public async Task Closing_trims_the_open_segment_and_indexes_it_so_the_next_start_reads_no_message()
    {
        var s = await FillAsync(30);
        var open = SegmentFiles().Order().Last();
        Assert.False(File.Exists(Path.ChangeExtension(open, ".idx")));
        // The zeros written ahead of the end: the open segment is longer than its records.
        var withZeros = new FileInfo(open).Length;
        s.Dispose();
        _open.Remove(s);
        var bytes = await File.ReadAllBytesAsync(open);
        Assert.True(bytes.Length < withZeros, $"{bytes.Length} of {withZeros} bytes");
        Assert.Equal("SMRE", Encoding.ASCII.GetString(bytes[^4..]));
        Assert.Equal(SegmentFiles().Length, IndexFiles().Length);
        // Every segment is indexed: damaged message data goes unnoticed, since a start reads only the index files.
        var at = Encoding.ASCII.GetString(bytes).LastIndexOf("message ", StringComparison.Ordinal) + 8;
        bytes[at] = (byte)'X';
        await File.WriteAllBytesAsync(open, bytes);
        var after = Open(segmentSize: 4096);
        for (var i = 0; i < 30; i++) Assert.True(await after.ExistsAsync($"M{i:D3}"), $"M{i:D3}");
        Assert.StartsWith("message X", await ReadAsync(after, "M029"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_without_index_files_writes_none_and_loads_by_scanning()
    {
        var s = new SegmentMessageStore(Dir, 4096, indexFiles: false);
        _open.Add(s);
        for (var i = 0; i < 40; i++) await PutAsync(s, $"M{i:D3}", Body(i));
        await s.DeleteAsync("M000");
        await s.Indexing;
        Assert.True(SegmentFiles().Length >= 3, $"{SegmentFiles().Length} segments");
        s.Dispose();
        _open.Remove(s);
        Assert.Empty(IndexFiles());
        var after = new SegmentMessageStore(Dir, 4096, indexFiles: false);
        _open.Add(after);
        Assert.False(await after.ExistsAsync("M000"));
        for (var i = 1; i < 40; i++) Assert.Equal(Body(i), await ReadAsync(after, $"M{i:D3}"));
        await after.Indexing;
        Assert.Empty(IndexFiles());
    }

    [Fact]
    public async Task A_segment_whose_records_are_all_deleted_goes_at_close_or_when_sealed()
    {
        var s = await FillAsync(30);
        for (var i = 0; i < 30; i++) await s.DeleteAsync($"M{i:D3}");
        // The sealed ones went as their last record died; the open one goes at close.
        Assert.Single(SegmentFiles());
        s.Dispose();
        _open.Remove(s);
        Assert.Empty(SegmentFiles());
        Assert.Empty(IndexFiles());
        Assert.Empty(Directory.GetFiles(Dir, "*.dead"));
    }

    /// <summary>The worker's copies (a deferrable store) may wait a moment for the SMTP edge's next sync while it sends
    /// (<see cref="DurabilityBarrier.DeferWindow"/>), and sync alone once it stops: a copy committed after the edge's
    /// last message still completes, and every copy is there after a crash.</summary>
    [Fact]
    public async Task Deferrable_commits_share_the_senders_syncs_and_complete_once_it_stops()
    {
        var edge = new SegmentMessageStore(Path.Combine(_dir.Path, "edge"));
        _open.Add(edge);
        var copies = new SegmentMessageStore(Dir, deferrable: true);
        _open.Add(copies);
        for (var i = 0; i < 20; i++)
        {
            var copy = PutAsync(copies, $"copy{i}", $"copy {i}\r\n");
            await PutAsync(edge, $"msg{i}", $"message {i}\r\n");
            await copy.WaitAsync(TimeSpan.FromSeconds(30));
        }
        // The edge has stopped: nothing comes to share this one's sync.
        await PutAsync(copies, "last", "after the last message\r\n").WaitAsync(TimeSpan.FromSeconds(30));
        Abandon(copies);
        var reopened = Open();
        for (var i = 0; i < 20; i++) Assert.Equal($"copy {i}\r\n", await ReadAsync(reopened, $"copy{i}"));
        Assert.Equal("after the last message\r\n", await ReadAsync(reopened, "last"));
    }
}
