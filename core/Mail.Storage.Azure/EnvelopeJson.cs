using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Mail.Core.Model;

namespace Mail.Storage.Azure;

/// <summary>
/// The wire form of an <see cref="Envelope"/> on Azure queues: camelCase JSON, small by design (claim-check:
/// the message itself is only referenced by <see cref="Envelope.MessageRef"/>). Queue adapters may add
/// top-level properties of their own (<c>notBefore</c>, <c>deadLetterReason</c>); readers ignore unknown ones.
/// </summary>
public static class EnvelopeJson
{
    /// <summary>camelCase, nulls left out; compile-time contracts (<see cref="EnvelopeJsonContext"/>), no reflection.</summary>
    public static JsonSerializerOptions Options => EnvelopeJsonContext.Default.Options;

    public const string NotBeforeProperty = "notBefore";
    public const string DeadLetterReasonProperty = "deadLetterReason";

    public static string Serialize(Envelope envelope) => JsonSerializer.Serialize(envelope, EnvelopeJsonContext.Default.Envelope);

    /// <exception cref="EnvelopeFormatException">The envelope was written by a newer build (its <c>formatVersion</c>).</exception>
    public static Envelope Deserialize(string json) =>
        (JsonSerializer.Deserialize(json, EnvelopeJsonContext.Default.Envelope) ?? throw new JsonException("Envelope JSON was null.")).EnsureReadable("queue message");

    /// <summary>Envelope plus adapter properties.</summary>
    public static string Serialize(Envelope envelope, IEnumerable<KeyValuePair<string, string?>> extra)
    {
        var node = JsonSerializer.SerializeToNode(envelope, EnvelopeJsonContext.Default.Envelope)!.AsObject();
        foreach (var (k, v) in extra)
            if (v is not null) node[k] = v;
        return node.ToJsonString(Options);
    }

    /// <summary>Reads an envelope together with the adapter properties that travel beside it.</summary>
    public static (Envelope Envelope, Func<string, string?> Property) DeserializeWithProperties(string json)
    {
        var node = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("Envelope JSON was null.");
        var envelope = (node.Deserialize(EnvelopeJsonContext.Default.Envelope) ?? throw new JsonException("Envelope JSON was null.")).EnsureReadable("queue message");
        return (envelope, name => node.TryGetPropertyValue(name, out var v) && v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : null);
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Envelope))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
