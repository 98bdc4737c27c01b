using System.Globalization;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

internal enum FetchKind { Flags, Uid, InternalDate, Size, Envelope, BodyStructure, Body, Section, Binary, BinarySize, ModSeq }

/// <summary>One FETCH data item, e.g. BODY.PEEK[1.HEADER.FIELDS (From)]&lt;0.100&gt;.</summary>
internal sealed record FetchItem(FetchKind Kind)
{
    /// <summary>Name in the response (RFC822, RFC822.HEADER, BODY[...], BINARY[...]).</summary>
    public string Label { get; init; } = "";
    public bool Peek { get; init; }
    public int[] Part { get; init; } = [];
    /// <summary>"", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME.</summary>
    public string Suffix { get; init; } = "";
    public List<string> Fields { get; init; } = [];
    public long? PartialStart { get; init; }
    public long? PartialLength { get; init; }

    /// <summary>True when the item reads only the top-level header (no body parse needed).</summary>
    public bool TopHeaderOnly => Part.Length == 0 && Suffix.StartsWith("HEADER", StringComparison.Ordinal);

    public static List<FetchItem> ParseList(ArgReader r)
    {
        var items = new List<FetchItem>();
        if (r.TryChar('('))
        {
            do items.Add(ParseOne(r)); while (r.TrySpace());
            r.Expect(')');
            return items;
        }
        var save = r.Position;
        var word = r.Word().ToUpperInvariant();
        switch (word)
        {
            case "ALL":
                return [new(FetchKind.Flags), new(FetchKind.InternalDate), new(FetchKind.Size), new(FetchKind.Envelope)];
            case "FAST":
                return [new(FetchKind.Flags), new(FetchKind.InternalDate), new(FetchKind.Size)];
            case "FULL":
                return [new(FetchKind.Flags), new(FetchKind.InternalDate), new(FetchKind.Size), new(FetchKind.Envelope), new(FetchKind.Body)];
        }
        return [ParseOne(r, word)];
    }

    private static FetchItem ParseOne(ArgReader r, string? word = null)
    {
        word ??= r.Word().ToUpperInvariant();
        switch (word)
        {
            case "FLAGS": return new(FetchKind.Flags);
            case "UID": return new(FetchKind.Uid);
            case "INTERNALDATE": return new(FetchKind.InternalDate);
            case "RFC822.SIZE": return new(FetchKind.Size);
            case "ENVELOPE": return new(FetchKind.Envelope);
            case "BODYSTRUCTURE": return new(FetchKind.BodyStructure);
            case "MODSEQ": return new(FetchKind.ModSeq);
            case "RFC822": return new(FetchKind.Section) { Label = "RFC822" };
            case "RFC822.HEADER": return new(FetchKind.Section) { Label = "RFC822.HEADER", Peek = true, Suffix = "HEADER" };
            case "RFC822.TEXT": return new(FetchKind.Section) { Label = "RFC822.TEXT", Suffix = "TEXT" };
            case "BODY" when r.Peek != '[': return new(FetchKind.Body);
            case "BODY" or "BODY.PEEK" or "BINARY" or "BINARY.PEEK" or "BINARY.SIZE":
                {
                    var sectionText = r.Section();
                    var binary = word.StartsWith("BINARY", StringComparison.Ordinal);
                    var item = ParseSection(sectionText, binary);
                    var kind = word == "BINARY.SIZE" ? FetchKind.BinarySize : binary ? FetchKind.Binary : FetchKind.Section;
                    var label = (binary ? (kind == FetchKind.BinarySize ? "BINARY.SIZE" : "BINARY") : "BODY") + "[" + sectionText + "]";
                    item = item with { Kind = kind, Peek = word.EndsWith(".PEEK", StringComparison.Ordinal), Label = label };
                    if (kind != FetchKind.BinarySize && r.TryChar('<'))
                    {
                        var start = r.Number();
                        r.Expect('.');
                        var length = r.NzNumber();
                        r.Expect('>');
                        item = item with { PartialStart = start, PartialLength = length };
                    }
                    return item;
                }
            default:
                throw new ImapParseException($"Unknown FETCH item {word}");
        }
    }

    private static FetchItem ParseSection(string text, bool binary)
    {
        var parts = new List<int>();
        var i = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            var start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
            if (!int.TryParse(text.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n == 0)
                throw new ImapParseException($"Bad section part number in [{text}]");
            parts.Add(n);
            if (i < text.Length)
            {
                if (text[i] != '.') throw new ImapParseException($"Bad section [{text}]");
                i++;
                if (i == text.Length) throw new ImapParseException($"Bad section [{text}]");
            }
        }
        var rest = text[i..];
        var upper = rest.ToUpperInvariant();
        var fields = new List<string>();
        string suffix;
        if (upper.Length == 0) suffix = "";
        else if (upper is "HEADER" or "TEXT") suffix = upper;
        else if (upper == "MIME" && parts.Count > 0) suffix = "MIME";
        else if (upper.StartsWith("HEADER.FIELDS", StringComparison.Ordinal))
        {
            suffix = upper.StartsWith("HEADER.FIELDS.NOT", StringComparison.Ordinal) ? "HEADER.FIELDS.NOT" : "HEADER.FIELDS";
            var list = rest[suffix.Length..];
            if (!list.StartsWith(" (", StringComparison.Ordinal)) throw new ImapParseException($"{suffix} needs a list of header names");
            var fr = new ArgReader(list[1..], []);
            fr.Expect('(');
            do fields.Add(fr.AString()); while (fr.TrySpace());
            fr.Expect(')');
            fr.ExpectEnd();
        }
        else throw new ImapParseException($"Bad section [{text}]");
        if (binary && suffix.Length > 0) throw new ImapParseException("BINARY takes part numbers only");
        return new FetchItem(FetchKind.Section) { Part = parts.ToArray(), Suffix = suffix, Fields = fields };
    }
}
