using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json.Serialization;
using Mail.Core.Model;

namespace Mail.Storage.Embedded;

/// <summary>One record of a spool journal: an envelope queued, its advisory state, or its settlement. Written in binary
/// (<see cref="SpoolRecordFormat"/>); the JSON names are those of format 1, which older builds wrote. The envelope is in
/// the one envelope wire form (<see cref="EnvelopeJson"/>, with its format version) in both.</summary>
internal sealed record SpoolRecord
{
    public const string Enqueued = "E";
    public const string State = "S";
    public const string Completed = "C";
    public const string DeadLettered = "D";

    [JsonPropertyName("k")] public required string Kind { get; init; }
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("env"), JsonConverter(typeof(EnvelopeJsonConverter))] public Envelope? Envelope { get; init; }
    [JsonPropertyName("vis")] public DateTimeOffset? VisibleAt { get; init; }
    [JsonPropertyName("n")] public int? DeliveryCount { get; init; }
    [JsonPropertyName("lock")] public DateTimeOffset? LockedUntil { get; init; }
}

/// <summary>Compile-time JSON for format-1 journal records (read only) and dead letters.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SpoolRecord))]
[JsonSerializable(typeof(SpoolQueue.DeadFile))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;

/// <summary>
/// The on-disk form of a spool: segment files <c>NNNNNNNNNNNN.journal</c> of framed records
/// <c>[length u32 LE][CRC-32 of payload u32 LE][payload]</c>, the payload in a format its first byte names
/// (<see cref="SpoolRecordFormat"/>: binary, or the JSON of older builds). Each record is written with one write(2)
/// at the writer's end of records, so a crash can only tear the last record of a segment; a reader stops at the first
/// frame whose length or checksum does not hold, or at the zeros written ahead of the end (<see cref="AppendFile"/>),
/// and the writer of the next instance starts a new segment.
/// </summary>
internal static class SpoolJournal
{
    private const string Extension = ".journal";
    private const int HeaderSize = 8;
    private const int MaxRecord = 64 * 1024 * 1024;

    public static string PathOf(string dir, long number) => NumberedFiles.PathOf(dir, number, Extension);

    /// <summary>The segments in a spool directory, oldest first.</summary>
    public static List<(long Number, string Path)> Segments(string dir) => NumberedFiles.List(dir, Extension);

    public static byte[] Encode(SpoolRecord record) => Frame(SpoolRecordFormat.Encode(record, HeaderSize));

    /// <summary>Fills in the header of a frame whose payload follows its first <see cref="HeaderSize"/> bytes.</summary>
    private static byte[] Frame(byte[] frame)
    {
        var payload = frame.AsSpan(HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), Crc32.HashToUInt32(payload));
        return frame;
    }

    /// <summary>The first record of every segment this build creates (<see cref="SpoolRecordFormat.Marker"/>).</summary>
    private static readonly byte[] MarkerFrame = Frame([.. new byte[HeaderSize], .. SpoolRecordFormat.Marker]);

    /// <summary>The intact records of one segment with their framed sizes; stops at a torn or corrupt frame.</summary>
    /// <exception cref="EnvelopeFormatException">An intact record is of a newer format than this build reads, or holds
    /// an envelope of a newer format.</exception>
    public static IEnumerable<(SpoolRecord Record, int Bytes)> Read(string path)
    {
        byte[] data;
        try
        {
            // Shared with the writer of a running server (the CLI lists its spool): a torn last frame is just not yet complete.
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
            data = new byte[fs.Length];
            fs.ReadExactly(data);
        }
        catch (FileNotFoundException)
        {
            yield break;
        }
        var offset = 0;
        while (data.Length - offset >= HeaderSize)
        {
            var length = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(offset));
            if (length == 0 || length > MaxRecord || length > data.Length - offset - HeaderSize) yield break;
            var payload = data.AsSpan(offset + HeaderSize, (int)length);
            if (Crc32.HashToUInt32(payload) != BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(offset + 4))) yield break;
            // Intact but newer than this build: Decode and EnsureReadable stop loudly instead of taking it for a torn
            // tail and losing it.
            var record = SpoolRecordFormat.Decode(payload, path, out var marker);
            var bytes = HeaderSize + (int)length;
            offset += bytes;
            if (marker) continue;
            if (record is null || !FileMessageStore.IsValidId(record.Id)) yield break;
            record.Envelope?.EnsureReadable(path);
            yield return (record, bytes);
        }
    }

    /// <summary>Appends whole records to one new segment. Not thread-safe: the queue serializes calls.</summary>
    public sealed class Writer : IDisposable
    {
        private readonly AppendFile _file;

        private Writer(AppendFile file)
        {
            _file = file;
            try
            {
                Append(MarkerFrame);
            }
            catch
            {
                file.Close(0);
                throw;
            }
        }

        public long Number => _file.Number;

        public long Length { get; private set; }

        /// <summary>A new segment numbered <paramref name="atLeast"/> or the next free one.</summary>
        public static Writer Create(string dir, long atLeast, long segmentSize) =>
            new(AppendFile.Create(dir, atLeast, Extension, FileAccess.Write, segmentSize));

        /// <summary>One write(2) into the page cache; durability is the caller's barrier.</summary>
        public void Append(byte[] record)
        {
            _file.Append(record, Length);
            Length += record.Length;
        }

        public void Dispose() => _file.Close(Length);
    }
}
