using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Mail.Core.Model;

/// <summary>
/// The one wire form of an <see cref="Envelope"/>, wherever it is kept: the Azure queue messages (Storage Queues, Service
/// Bus), the embedded spool journal's records (a field of their binary form) and its dead letters (through
/// <see cref="EnvelopeJsonConverter"/>). JSON, small by design
/// (claim-check: the message itself is only referenced by <see cref="Envelope.MessageRef"/>), with the format version
/// in <see cref="Envelope.FormatVersion"/>: a reader takes any version up to <see cref="Envelope.CurrentFormatVersion"/>
/// and refuses a newer one with one line (<see cref="EnvelopeFormatException"/>) instead of dropping its fields.
/// <para>Property names are written as declared (PascalCase, what the spool journal always wrote) and read in any
/// case: the queues' older camelCase messages still read, and an older build reads this form (queue builds read
/// case-insensitively, spool builds PascalCase) and so reaches its own version check.</para>
/// Queue adapters may add top-level properties of their own (<c>notBefore</c>, <c>deadLetterReason</c>); readers
/// ignore unknown ones.
/// </summary>
public static class EnvelopeJson
{
    /// <summary>Compile-time contracts (<see cref="EnvelopeJsonContext"/>), no reflection: the AOT build serializes too.</summary>
    public static JsonSerializerOptions Options => EnvelopeJsonContext.Default.Options;

    public const string NotBeforeProperty = "notBefore";
    public const string DeadLetterReasonProperty = "deadLetterReason";

    public static string Serialize(Envelope envelope) => JsonSerializer.Serialize(envelope, EnvelopeJsonContext.Default.Envelope);

    public static byte[] SerializeToUtf8Bytes(Envelope envelope) => JsonSerializer.SerializeToUtf8Bytes(envelope, EnvelopeJsonContext.Default.Envelope);

    /// <summary>Into a caller's writer (the spool journal reuses one buffer for every record it encodes).</summary>
    public static void Serialize(Utf8JsonWriter writer, Envelope envelope) => JsonSerializer.Serialize(writer, envelope, EnvelopeJsonContext.Default.Envelope);

    /// <param name="source">Where the envelope was read from (a queue, a journal path), for the refusal's line.</param>
    /// <exception cref="EnvelopeFormatException">The envelope was written by a newer build (its format version).</exception>
    /// <exception cref="JsonException">Not an envelope.</exception>
    public static Envelope Deserialize(string json, string source = "queue message") =>
        (JsonSerializer.Deserialize(json, EnvelopeJsonContext.Default.Envelope) ?? throw new JsonException("Envelope JSON was null.")).EnsureReadable(source);

    /// <inheritdoc cref="Deserialize(string, string)"/>
    public static Envelope Deserialize(ReadOnlySpan<byte> utf8, string source) =>
        (JsonSerializer.Deserialize(utf8, EnvelopeJsonContext.Default.Envelope) ?? throw new JsonException("Envelope JSON was null.")).EnsureReadable(source);

    /// <summary>Envelope plus adapter properties.</summary>
    public static string Serialize(Envelope envelope, IEnumerable<KeyValuePair<string, string?>> extra)
    {
        var node = JsonSerializer.SerializeToNode(envelope, EnvelopeJsonContext.Default.Envelope)!.AsObject();
        foreach (var (k, v) in extra)
            if (v is not null) node[k] = v;
        return node.ToJsonString(Options);
    }

    /// <summary>Reads an envelope together with the adapter properties that travel beside it.</summary>
    /// <exception cref="EnvelopeFormatException">The envelope was written by a newer build.</exception>
    public static (Envelope Envelope, Func<string, string?> Property) DeserializeWithProperties(string json, string source = "queue message")
    {
        var node = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("Envelope JSON was null.");
        var envelope = (node.Deserialize(EnvelopeJsonContext.Default.Envelope) ?? throw new JsonException("Envelope JSON was null.")).EnsureReadable(source);
        return (envelope, name => node.TryGetPropertyValue(name, out var v) && v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : null);
    }
}

/// <summary>
/// For a record that carries an envelope inside its own JSON (the spool's dead letters, the journal records of older
/// builds): writes and reads the envelope in
/// <see cref="EnvelopeJson"/>'s form whatever the record's own options. The version check stays with the record's
/// reader, which knows where the record came from.
/// </summary>
public sealed class EnvelopeJsonConverter : JsonConverter<Envelope>
{
    public override Envelope? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        JsonSerializer.Deserialize(ref reader, EnvelopeJsonContext.Default.Envelope);

    public override void Write(Utf8JsonWriter writer, Envelope value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, EnvelopeJsonContext.Default.Envelope);
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Envelope))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
