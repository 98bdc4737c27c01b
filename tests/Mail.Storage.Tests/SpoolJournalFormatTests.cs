using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using Mail.Core.Model;
using Mail.Storage.Contracts;
using Mail.Storage.Embedded;

namespace Mail.Storage.Tests;

/// <summary>
/// The spool journal's record formats: older builds' JSON records (format 1) still read, mixed with this build's binary
/// ones (format 2) in later segments; a newer format is refused with one line; a torn binary record ends its segment like
/// a torn JSON one did; and a build that reads only JSON stops at the first segment this build writes.
/// </summary>
public sealed class SpoolJournalFormatTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 12, 7, 20, 0, 0, TimeSpan.Zero));

    public void Dispose() => _dir.Dispose();

    private string Spool => Path.Combine(_dir.Path, "outbound");

    private SpoolQueue Open() => new(_dir.Path, "outbound", _time);

    private static byte[] Frame(byte[] payload)
    {
        var frame = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), Crc32.HashToUInt32(payload));
        payload.CopyTo(frame.AsSpan(8));
        return frame;
    }

    private void WriteSegment(long number, params string[] jsonRecords)
    {
        Directory.CreateDirectory(Spool);
        File.WriteAllBytes(SpoolJournal.PathOf(Spool, number), [.. jsonRecords.SelectMany(r => Frame(Encoding.UTF8.GetBytes(r)))]);
    }

    /// <summary>The frames of a segment, up to the zeros written ahead of its end: (offset, framed size).</summary>
    private static List<(int Offset, int Size)> FramesOf(byte[] segment)
    {
        var frames = new List<(int, int)>();
        for (var at = 0; at + 8 <= segment.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan(at));
            if (length == 0) break;
            frames.Add((at, 8 + length));
            at += 8 + length;
        }
        return frames;
    }

    private static string EnvelopeText(string queueId) => $$"""
        {"FormatVersion":3,"QueueId":"{{queueId}}","MessageRef":"m-{{queueId}}","ReceivedAt":"2026-12-01T10:00:00+00:00","Size":10,
         "Client":{"Address":"192.0.2.1","Helo":"client.example"},"MailFrom":"alice@example.org","Recipients":[{"Address":"bob@example.net"}]}
        """;

    [Fact]
    public async Task An_older_builds_JSON_journal_reads_and_this_builds_binary_records_follow_it()
    {
        // As a build before format 2 wrote it: two envelopes queued, the first received (count 2, leased), the third
        // queued and completed.
        WriteSegment(1,
            $$"""{"k":"E","id":"0001","env":{{EnvelopeText("OLD1")}},"vis":"2026-12-07T19:00:00+00:00"}""",
            $$"""{"k":"E","id":"0002","env":{{EnvelopeText("OLD2")}},"vis":"2026-12-07T21:00:00+01:00","n":1}""",
            """{"k":"S","id":"0001","vis":"2026-12-07T19:00:00+00:00","n":2,"lock":"2026-12-07T19:05:00+00:00"}""",
            $$"""{"k":"E","id":"0003","env":{{EnvelopeText("OLD3")}},"vis":"2026-12-07T19:00:00+00:00"}""",
            """{"k":"C","id":"0003"}""");

        var q = Open();
        var entries = await q.ListAsync().ToListAsync();
        Assert.Equal(["OLD1", "OLD2"], entries.Select(e => e.Envelope.QueueId));
        Assert.Equal((2, 1), (entries[0].DeliveryCount, entries[1].DeliveryCount));
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 21, 0, 0, TimeSpan.FromHours(1)), entries[1].VisibleAt);

        // This build appends in a segment of its own, starting with the marker, in binary records.
        var sent = MessageQueueContract.SampleEnvelope("NEW1");
        await q.SendAsync(sent);
        var lease = Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5)));
        Assert.Equal("OLD1", lease.Envelope.QueueId);
        Assert.Equal(3, lease.DeliveryCount);
        await q.CompleteAsync(lease);
        var second = await File.ReadAllBytesAsync(SpoolJournal.PathOf(Spool, 2));
        var frames = FramesOf(second);
        Assert.Equal(SpoolRecordFormat.Marker, second.AsSpan(frames[0].Offset + 8, frames[0].Size - 8).ToArray());
        Assert.All(frames.Skip(1), f => Assert.Equal(SpoolRecordFormat.Current, second[f.Offset + 8]));
        Assert.Equal("ESC", Encoding.ASCII.GetString([.. frames.Skip(1).Select(f => second[f.Offset + 9])]));

        var reopened = await Open().ListAsync().ToListAsync();
        Assert.Equal(["OLD2", "NEW1"], reopened.Select(e => e.Envelope.QueueId));
        Assert.Equal(EnvelopeJson.Serialize(sent), EnvelopeJson.Serialize(reopened[1].Envelope));
    }

    [Fact]
    public void Every_field_of_a_binary_record_reads_back_as_written()
    {
        var envelope = MessageQueueContract.SampleEnvelope("ROUND");
        var record = new SpoolRecord
        {
            Kind = SpoolRecord.Enqueued, Id = "0198f00d", Envelope = envelope, DeliveryCount = 300,
            VisibleAt = new DateTimeOffset(2026, 12, 7, 20, 1, 2, TimeSpan.FromMinutes(-330)).AddTicks(1234567),
            LockedUntil = new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(7),
        };
        Directory.CreateDirectory(Spool);
        var path = SpoolJournal.PathOf(Spool, 1);
        var frame = SpoolJournal.Encode(record);
        var state = SpoolJournal.Encode(new SpoolRecord { Kind = SpoolRecord.State, Id = "0198f00d", VisibleAt = DateTimeOffset.UnixEpoch });
        File.WriteAllBytes(path, [.. frame, .. state]);

        var read = SpoolJournal.Read(path).ToList();
        Assert.Equal([frame.Length, state.Length], read.Select(r => r.Bytes));
        var (got, _) = read[0];
        Assert.Equal((record.Kind, record.Id, record.DeliveryCount), (got.Kind, got.Id, got.DeliveryCount));
        Assert.Equal(record.VisibleAt, got.VisibleAt);
        Assert.Equal(record.VisibleAt!.Value.Offset, got.VisibleAt!.Value.Offset);
        Assert.Equal(record.LockedUntil, got.LockedUntil);
        Assert.Equal(EnvelopeJson.Serialize(envelope), EnvelopeJson.Serialize(got.Envelope!));
        Assert.Equal((SpoolRecord.State, (int?)null, (DateTimeOffset?)null, (Envelope?)null), (read[1].Record.Kind, read[1].Record.DeliveryCount, read[1].Record.LockedUntil, read[1].Record.Envelope));
        // Smaller than the JSON record it replaces.
        Assert.True(frame.Length < JsonSerializer.SerializeToUtf8Bytes(record, SpoolJsonContext.Default.SpoolRecord).Length);
    }

    [Fact]
    public void A_record_of_a_newer_journal_format_is_refused_with_one_line_naming_the_formats()
    {
        WriteSegment(1, $$"""{"k":"E","id":"0001","env":{{EnvelopeText("KEPT")}},"vis":"2026-12-07T19:00:00+00:00"}""");
        var newer = Frame([3, (byte)'E', (byte)'i', 4, .. "0002"u8]);
        using (var f = new FileStream(SpoolJournal.PathOf(Spool, 1), FileMode.Append)) f.Write(newer);

        var e = Assert.Throws<EnvelopeFormatException>(Open);
        Assert.Contains("000000000001.journal: spool journal record of format 3; this build reads formats up to 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("Run the newer build", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_build_that_reads_only_JSON_records_stops_at_this_builds_segment_with_its_own_line()
    {
        // What such a build does with each record (SpoolJournal.Read before format 2): JSON, then the envelope's check.
        var record = JsonSerializer.Deserialize(SpoolRecordFormat.Marker, SpoolJsonContext.Default.SpoolRecord)!;
        Assert.True(Mail.Storage.Embedded.FileMessageStore.IsValidId(record.Id));
        var e = Assert.Throws<EnvelopeFormatException>(() => record.Envelope!.EnsureReadable("/spool/outbound/000000000002.journal"));
        Assert.Equal("/spool/outbound/000000000002.journal: envelope (spool journal records in binary format 2) has format version 4; "
            + $"this build reads versions up to {Envelope.CurrentFormatVersion}. Run the newer build that wrote it (or a later one).", e.Message);
    }

    [Fact]
    public async Task A_torn_binary_record_at_the_end_ends_the_segment_and_the_records_before_it_load()
    {
        var q = Open();
        await q.SendAsync(MessageQueueContract.SampleEnvelope("A"));
        await q.SendAsync(MessageQueueContract.SampleEnvelope("B"));
        await q.CompleteAsync(Assert.Single(await q.ReceiveAsync(1, TimeSpan.FromMinutes(5))));
        var path = SpoolJournal.PathOf(Spool, 1);
        var segment = await File.ReadAllBytesAsync(path);
        var frames = FramesOf(segment);
        Assert.Equal(5, frames.Count); // marker, A, B, A's receive, A's completion
        var (last, size) = frames[^1];

        // The completion's write torn by a machine crash (a prefix before the zeros): A is back, B stays.
        for (var keep = 1; keep < size; keep += 5)
        {
            await File.WriteAllBytesAsync(path, [.. segment[..(last + keep)], .. new byte[4096]]);
            Assert.Equal(["A", "B"], (await Open().ListAsync().ToListAsync()).Select(e => e.Envelope.QueueId));
        }

        // Or written whole but damaged: the checksum no longer holds, and the segment ends before it.
        var corrupt = segment.ToArray();
        corrupt[last + size - 2] ^= 0x01;
        await File.WriteAllBytesAsync(path, corrupt);
        var after = Open();
        Assert.Equal(2, after.Count);
        await after.SendAsync(MessageQueueContract.SampleEnvelope("C"));
        Assert.Equal(["A", "B", "C"], (await Open().ListAsync().ToListAsync()).Select(e => e.Envelope.QueueId));
    }
}
