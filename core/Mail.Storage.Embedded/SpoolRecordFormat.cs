using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Mail.Core.Model;

namespace Mail.Storage.Embedded;

/// <summary>
/// The payload of a spool journal record (<see cref="SpoolJournal"/> frames it and checks it). The first byte says the
/// record's format:
/// <list type="bullet">
/// <item><c>{</c>, format 1: a JSON object with <see cref="SpoolRecord"/>'s short names, what builds before format 2
/// wrote. Read, no longer written.</item>
/// <item><c>0x02</c>, format 2: <c>[2][kind: 'E' 'S' 'C' 'D']</c> then fields <c>[tag][length: 7-bit varint][value]</c>:
/// <c>i</c> the envelope id (ASCII), <c>v</c> visible-at and <c>l</c> locked-until (UTC ticks, int64 LE, then the offset
/// in minutes, int16 LE), <c>n</c> the delivery count (int32 LE), <c>e</c> the envelope in its one wire form
/// (<see cref="EnvelopeJson"/>, UTF-8, with its own format version), last so that an envelope record ends in <c>}</c>.
/// A field this build does not know makes the record unreadable: a build that adds one writes format 3.</item>
/// <item>Any other byte above 2: a newer build's format, refused with one line (<see cref="EnvelopeFormatException"/>,
/// the refusal the envelope's own version already has) rather than taken for a torn tail and lost.</item>
/// </list>
/// Builds that read only format 1 would take a binary record for a torn tail and compact the envelopes after it away;
/// so every segment this build creates starts with <see cref="Marker"/>, a format-1 record whose envelope says a version
/// (4) no such build reads: they stop at it with their own line, "envelope (spool journal records in binary format 2)
/// has format version 4; this build reads versions up to 3. Run the newer build that wrote it". This build skips it.
/// <para>Hand-written rather than through a serializer library (MessagePack, protobuf-net): five fields whose layout is
/// the file format itself, no generated code or reflection for Native AOT, nothing to keep compatible across a
/// library's own upgrades; the envelope, the one structured part, keeps its versioned JSON.</para>
/// </summary>
internal static class SpoolRecordFormat
{
    public const byte Current = 2;
    private const byte Json = (byte)'{';
    private const byte TagId = (byte)'i';
    private const byte TagVisibleAt = (byte)'v';
    private const byte TagDeliveryCount = (byte)'n';
    private const byte TagLockedUntil = (byte)'l';
    private const byte TagEnvelope = (byte)'e';
    private const int TimeSize = 10;
    private const string MarkerKind = "F";

    /// <summary>The first record of every segment this build creates (see the class remarks).</summary>
    public static readonly byte[] Marker = Encoding.UTF8.GetBytes(
        """{"k":"F","id":"journal-format-2","env":{"FormatVersion":4,"QueueId":"(spool journal records in binary format 2)","MessageRef":"-","ReceivedAt":"2026-12-07T00:00:00+00:00","Client":{"Address":"-","Helo":"-"},"MailFrom":"","Recipients":[]}}""");

    // One buffer per thread for the envelope's JSON: the record is sized from it and copied once into its frame.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_envelope;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <summary>The record in format 2, after <paramref name="headerSize"/> bytes left for the caller's frame header.</summary>
    public static byte[] Encode(SpoolRecord record, int headerSize)
    {
        var envelope = record.Envelope is { } env ? EnvelopeUtf8(env) : default;
        var size = 2 + FieldSize(record.Id.Length)
            + (record.VisibleAt is null ? 0 : FieldSize(TimeSize))
            + (record.DeliveryCount is null ? 0 : FieldSize(sizeof(int)))
            + (record.LockedUntil is null ? 0 : FieldSize(TimeSize))
            + (record.Envelope is null ? 0 : FieldSize(envelope.Length));
        var frame = new byte[headerSize + size];
        var w = frame.AsSpan(headerSize);
        w[0] = Current;
        w[1] = (byte)record.Kind[0];
        var at = 2;
        Encoding.ASCII.GetBytes(record.Id, Field(w, ref at, TagId, record.Id.Length));
        if (record.VisibleAt is { } visibleAt) WriteTime(Field(w, ref at, TagVisibleAt, TimeSize), visibleAt);
        if (record.DeliveryCount is { } count) BinaryPrimitives.WriteInt32LittleEndian(Field(w, ref at, TagDeliveryCount, sizeof(int)), count);
        if (record.LockedUntil is { } lockedUntil) WriteTime(Field(w, ref at, TagLockedUntil, TimeSize), lockedUntil);
        if (record.Envelope is not null) envelope.CopyTo(Field(w, ref at, TagEnvelope, envelope.Length));
        return frame;
    }

    /// <summary>An intact payload's record; null when it is not a record (the journal ends there), or for the
    /// <see cref="Marker"/> when <paramref name="marker"/> is set.</summary>
    /// <param name="source">The segment's path, for a refusal's line.</param>
    /// <exception cref="EnvelopeFormatException">A newer build's record or envelope.</exception>
    public static SpoolRecord? Decode(ReadOnlySpan<byte> payload, string source, out bool marker)
    {
        marker = false;
        switch (payload[0])
        {
            case Json:
                SpoolRecord? json;
                try
                {
                    json = JsonSerializer.Deserialize(payload, SpoolJsonContext.Default.SpoolRecord);
                }
                catch (JsonException)
                {
                    return null;
                }
                marker = json?.Kind == MarkerKind;
                return marker ? null : json;
            case Current:
                return DecodeBinary(payload, source);
            case < Current:
                return null;
            default:
                throw new EnvelopeFormatException($"{source}: spool journal record of format {payload[0]}; this build reads formats up to {Current}. Run the newer build that wrote it (or a later one).");
        }
    }

    private static SpoolRecord? DecodeBinary(ReadOnlySpan<byte> payload, string source)
    {
        if (payload.Length < 2) return null;
        var kind = payload[1] switch
        {
            (byte)'E' => SpoolRecord.Enqueued,
            (byte)'S' => SpoolRecord.State,
            (byte)'C' => SpoolRecord.Completed,
            (byte)'D' => SpoolRecord.DeadLettered,
            _ => null,
        };
        if (kind is null) return null;
        string? id = null;
        DateTimeOffset? visibleAt = null, lockedUntil = null;
        int? count = null;
        Envelope? envelope = null;
        var rest = payload[2..];
        while (!rest.IsEmpty)
        {
            var tag = rest[0];
            rest = rest[1..];
            if (!TryReadLength(ref rest, out var length) || length > rest.Length) return null;
            var value = rest[..length];
            rest = rest[length..];
            switch (tag)
            {
                case TagId:
                    id = Encoding.ASCII.GetString(value);
                    break;
                case TagVisibleAt when TryReadTime(value, out var t):
                    visibleAt = t;
                    break;
                case TagLockedUntil when TryReadTime(value, out var t):
                    lockedUntil = t;
                    break;
                case TagDeliveryCount when length == sizeof(int):
                    count = BinaryPrimitives.ReadInt32LittleEndian(value);
                    break;
                case TagEnvelope:
                    try
                    {
                        envelope = EnvelopeJson.Deserialize(value, source);
                    }
                    catch (JsonException)
                    {
                        return null;
                    }
                    break;
                default:
                    return null;
            }
        }
        return id is null ? null : new SpoolRecord { Kind = kind, Id = id, Envelope = envelope, VisibleAt = visibleAt, DeliveryCount = count, LockedUntil = lockedUntil };
    }

    private static ReadOnlySpan<byte> EnvelopeUtf8(Envelope envelope)
    {
        var buffer = t_envelope ??= new ArrayBufferWriter<byte>(2048);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer);
        writer.Reset(buffer);
        EnvelopeJson.Serialize(writer, envelope);
        writer.Flush();
        return buffer.WrittenSpan;
    }

    private static int FieldSize(int length) => 1 + LengthSize(length) + length;

    private static int LengthSize(int length)
    {
        var n = 1;
        for (var v = (uint)length; v >= 0x80; v >>= 7) n++;
        return n;
    }

    /// <summary>Writes a field's tag and length at <paramref name="at"/>; returns the room for its value.</summary>
    private static Span<byte> Field(Span<byte> w, ref int at, byte tag, int length)
    {
        w[at++] = tag;
        for (var v = (uint)length; ; v >>= 7)
        {
            if (v < 0x80)
            {
                w[at++] = (byte)v;
                break;
            }
            w[at++] = (byte)(v | 0x80);
        }
        var value = w.Slice(at, length);
        at += length;
        return value;
    }

    private static bool TryReadLength(ref ReadOnlySpan<byte> rest, out int length)
    {
        length = 0;
        for (var shift = 0; shift < 28; shift += 7)
        {
            if (rest.IsEmpty) return false;
            var b = rest[0];
            rest = rest[1..];
            length |= (b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }

    private static void WriteTime(Span<byte> value, DateTimeOffset time)
    {
        BinaryPrimitives.WriteInt64LittleEndian(value, time.UtcTicks);
        BinaryPrimitives.WriteInt16LittleEndian(value[8..], (short)time.TotalOffsetMinutes);
    }

    private static bool TryReadTime(ReadOnlySpan<byte> value, out DateTimeOffset time)
    {
        time = default;
        if (value.Length != TimeSize) return false;
        var utcTicks = BinaryPrimitives.ReadInt64LittleEndian(value);
        var offset = TimeSpan.FromMinutes(BinaryPrimitives.ReadInt16LittleEndian(value[8..]));
        try
        {
            time = new DateTimeOffset(utcTicks, TimeSpan.Zero).ToOffset(offset);
        }
        catch (ArgumentException)
        {
            return false;
        }
        return true;
    }
}
