using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mail.Core.Model;

/// <summary>MAIL FROM BODY= (RFC 6152 7BIT and 8BITMIME; RFC 3030 BINARYMIME).</summary>
public enum BodyType
{
    SevenBit,
    EightBitMime,
    /// <summary>Known so that the edge can answer 555 (not offered) rather than 501 (not a BODY value).</summary>
    BinaryMime,
}

/// <summary>MAIL FROM RET= (RFC 3461 4.3): what a failure DSN returns of the message.</summary>
public enum DsnRet
{
    /// <summary>The whole message.</summary>
    Full,
    /// <summary>Only its header.</summary>
    Hdrs,
}

/// <summary>RCPT TO NOTIFY= (RFC 3461 4.1): NEVER, or any combination of SUCCESS, FAILURE and DELAY. A recipient
/// without the parameter has none (null), which means FAILURE and DELAY at the discretion of the MTA.</summary>
[Flags]
public enum DsnNotify
{
    Never = 0,
    Success = 1,
    Failure = 2,
    Delay = 4,
}

/// <summary>The ESMTP parameter values as they are written on the wire: parsed once by the edge, written again by the
/// outbound client and in the envelope's JSON (where they read as the keywords themselves).</summary>
public static class SmtpKeywords
{
    /// <summary>A BODY value, case-insensitively.</summary>
    public static BodyType? ParseBody(string? value) => value?.ToUpperInvariant() switch
    {
        "7BIT" => BodyType.SevenBit,
        "8BITMIME" => BodyType.EightBitMime,
        "BINARYMIME" => BodyType.BinaryMime,
        _ => null,
    };

    public static string Keyword(this BodyType body) => body switch
    {
        BodyType.SevenBit => "7BIT",
        BodyType.EightBitMime => "8BITMIME",
        BodyType.BinaryMime => "BINARYMIME",
        _ => throw new ArgumentOutOfRangeException(nameof(body), body, null),
    };

    /// <summary>A RET value, case-insensitively.</summary>
    public static DsnRet? ParseRet(string? value) => value?.ToUpperInvariant() switch
    {
        "FULL" => DsnRet.Full,
        "HDRS" => DsnRet.Hdrs,
        _ => null,
    };

    public static string Keyword(this DsnRet ret) => ret switch
    {
        DsnRet.Full => "FULL",
        DsnRet.Hdrs => "HDRS",
        _ => throw new ArgumentOutOfRangeException(nameof(ret), ret, null),
    };

    private static readonly (DsnNotify Flag, string Keyword)[] NotifyKeywords =
        [(DsnNotify.Success, "SUCCESS"), (DsnNotify.Failure, "FAILURE"), (DsnNotify.Delay, "DELAY")];

    /// <summary>A NOTIFY value as RFC 3461 4.1 allows it: "NEVER" alone, or a comma-separated list of SUCCESS, FAILURE
    /// and DELAY, each at most once (case-insensitively). Null for anything else.</summary>
    public static DsnNotify? ParseNotify(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        if (value.Equals("NEVER", StringComparison.OrdinalIgnoreCase)) return DsnNotify.Never;
        var notify = DsnNotify.Never;
        foreach (var part in value.Split(','))
        {
            var flag = NotifyFlag(part);
            if (flag is not { } f || (notify & f) != 0) return null;
            notify |= f;
        }
        return notify;
    }

    private static DsnNotify? NotifyFlag(string keyword)
    {
        foreach (var (flag, name) in NotifyKeywords)
            if (keyword.Equals(name, StringComparison.OrdinalIgnoreCase)) return flag;
        return null;
    }

    /// <summary>The keywords of a NOTIFY value in RFC order: ["NEVER"], or some of ["SUCCESS", "FAILURE", "DELAY"].</summary>
    public static IReadOnlyList<string> Keywords(this DsnNotify notify) =>
        notify == DsnNotify.Never ? ["NEVER"] : [.. NotifyKeywords.Where(k => (notify & k.Flag) != 0).Select(k => k.Keyword)];

    /// <summary>Whether a recipient's NOTIFY asks for <paramref name="what"/>; <paramref name="byDefault"/> when it gave no NOTIFY.</summary>
    public static bool Wants(this DsnNotify? notify, DsnNotify what, bool byDefault) => notify is { } n ? (n & what) != 0 : byDefault;
}

/// <summary>The envelope's JSON writes the parameters as their SMTP keywords ("8BITMIME", "HDRS", ["SUCCESS","DELAY"]),
/// the form envelope format version 2 had as strings. A value this build does not know reads as absent: an envelope is
/// never refused (or a spool record taken for a torn one) over a parameter.</summary>
public static class SmtpKeywordJsonConverter
{
    /// <summary>A parameter whose value is one keyword.</summary>
    public abstract class OneKeyword<T> : JsonConverter<T?> where T : struct, Enum
    {
        protected abstract T? Parse(string? keyword);

        protected abstract string KeywordOf(T value);

        public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Parse(KeywordOrSkip(ref reader));

        public override void Write(Utf8JsonWriter writer, T? value, JsonSerializerOptions options)
        {
            if (value is { } v) writer.WriteStringValue(KeywordOf(v));
            else writer.WriteNullValue();
        }
    }

    public sealed class Body : OneKeyword<BodyType>
    {
        protected override BodyType? Parse(string? keyword) => SmtpKeywords.ParseBody(keyword);

        protected override string KeywordOf(BodyType value) => value.Keyword();
    }

    public sealed class Ret : OneKeyword<DsnRet>
    {
        protected override DsnRet? Parse(string? keyword) => SmtpKeywords.ParseRet(keyword);

        protected override string KeywordOf(DsnRet value) => value.Keyword();
    }

    public sealed class Notify : JsonConverter<DsnNotify?>
    {
        public override DsnNotify? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                reader.Skip();
                return null;
            }
            var keywords = new List<string>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                if (reader.TokenType == JsonTokenType.String) keywords.Add(reader.GetString()!);
                else reader.Skip();
            return SmtpKeywords.ParseNotify(string.Join(',', keywords));
        }

        public override void Write(Utf8JsonWriter writer, DsnNotify? value, JsonSerializerOptions options)
        {
            if (value is not { } v)
            {
                writer.WriteNullValue();
                return;
            }
            writer.WriteStartArray();
            foreach (var keyword in v.Keywords()) writer.WriteStringValue(keyword);
            writer.WriteEndArray();
        }
    }

    private static string? KeywordOrSkip(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String) return reader.GetString();
        reader.Skip();
        return null;
    }
}
