namespace Mail.Sieve;

/// <summary>What a positional argument or a tag's value must be.</summary>
internal enum ArgKind { None, String, StringList, Number }

/// <summary>A tag a command or test takes: its value's kind, the extension that brings it, and the group of tags of
/// which only one may be given (match type, comparator, address part, body transform, size, zone).</summary>
internal sealed record TagSpec(string Name, ArgKind Value, string? Extension, string? Group);

/// <summary>The signature of one command or test.</summary>
internal sealed record Signature(string Name, string? Extension, TagSpec[] Tags, ArgKind[] Positional, int OptionalLeading = 0, int Tests = 0, bool Block = false)
{
    public bool IsCommand { get; init; } = true;
}

/// <summary>The commands and tests this interpreter knows, with RFC 5228's and the extensions' signatures, and the
/// capabilities <c>require</c> accepts.</summary>
internal static class Grammar
{
    public static readonly string[] Capabilities =
    [
        "fileinto", "reject", "ereject", "envelope", "encoded-character", "vacation", "imap4flags", "body", "variables",
        "subaddress", "copy", "relational", "date", "mailbox", "comparator-i;ascii-numeric", "comparator-i;octet", "comparator-i;ascii-casemap",
    ];

    private static readonly TagSpec[] Comparator = [new(":comparator", ArgKind.String, null, "comparator")];

    private static readonly TagSpec[] MatchType =
    [
        new(":is", ArgKind.None, null, "match"), new(":contains", ArgKind.None, null, "match"), new(":matches", ArgKind.None, null, "match"),
        new(":value", ArgKind.String, "relational", "match"), new(":count", ArgKind.String, "relational", "match"),
    ];

    private static readonly TagSpec[] AddressPart =
    [
        new(":all", ArgKind.None, null, "address-part"), new(":localpart", ArgKind.None, null, "address-part"), new(":domain", ArgKind.None, null, "address-part"),
        new(":user", ArgKind.None, "subaddress", "address-part"), new(":detail", ArgKind.None, "subaddress", "address-part"),
    ];

    private static readonly TagSpec[] Match = [.. Comparator, .. MatchType];
    private static readonly TagSpec Flags = new(":flags", ArgKind.StringList, "imap4flags", null);
    private static readonly TagSpec Copy = new(":copy", ArgKind.None, "copy", null);

    private static readonly Signature[] All =
    [
        new("require", null, [], [ArgKind.StringList]),
        new("if", null, [], [], Tests: 1, Block: true),
        new("elsif", null, [], [], Tests: 1, Block: true),
        new("else", null, [], [], Block: true),
        new("stop", null, [], []),
        new("keep", null, [Flags], []),
        new("discard", null, [], []),
        new("fileinto", "fileinto", [Flags, Copy, new(":create", ArgKind.None, "mailbox", null)], [ArgKind.String]),
        new("redirect", null, [Copy], [ArgKind.String]),
        new("reject", "reject", [], [ArgKind.String]),
        new("ereject", "ereject", [], [ArgKind.String]),
        new("vacation", "vacation",
        [
            new(":days", ArgKind.Number, null, "period"), new(":subject", ArgKind.String, null, null), new(":from", ArgKind.String, null, null),
            new(":addresses", ArgKind.StringList, null, null), new(":mime", ArgKind.None, null, null), new(":handle", ArgKind.String, null, null),
        ], [ArgKind.String]),
        new("set", "variables",
        [
            new(":lower", ArgKind.None, null, "case"), new(":upper", ArgKind.None, null, "case"),
            new(":lowerfirst", ArgKind.None, null, "first"), new(":upperfirst", ArgKind.None, null, "first"),
            new(":quotewildcard", ArgKind.None, null, null), new(":length", ArgKind.None, null, null),
        ], [ArgKind.String, ArgKind.String]),
        new("setflag", "imap4flags", [], [ArgKind.String, ArgKind.StringList], OptionalLeading: 1),
        new("addflag", "imap4flags", [], [ArgKind.String, ArgKind.StringList], OptionalLeading: 1),
        new("removeflag", "imap4flags", [], [ArgKind.String, ArgKind.StringList], OptionalLeading: 1),

        new("address", null, [.. AddressPart, .. Match], [ArgKind.StringList, ArgKind.StringList]) { IsCommand = false },
        new("envelope", "envelope", [.. AddressPart, .. Match], [ArgKind.StringList, ArgKind.StringList]) { IsCommand = false },
        new("header", null, Match, [ArgKind.StringList, ArgKind.StringList]) { IsCommand = false },
        new("exists", null, [], [ArgKind.StringList]) { IsCommand = false },
        new("size", null, [new(":over", ArgKind.None, null, "size"), new(":under", ArgKind.None, null, "size")], [ArgKind.Number]) { IsCommand = false },
        new("allof", null, [], [], Tests: -1) { IsCommand = false },
        new("anyof", null, [], [], Tests: -1) { IsCommand = false },
        new("not", null, [], [], Tests: 1) { IsCommand = false },
        new("true", null, [], []) { IsCommand = false },
        new("false", null, [], []) { IsCommand = false },
        new("body", "body",
        [
            .. Match, new(":raw", ArgKind.None, null, "transform"), new(":content", ArgKind.StringList, null, "transform"), new(":text", ArgKind.None, null, "transform"),
        ], [ArgKind.StringList]) { IsCommand = false },
        new("date", "date", [.. Match, new(":zone", ArgKind.String, null, "zone"), new(":originalzone", ArgKind.None, null, "zone")],
            [ArgKind.String, ArgKind.String, ArgKind.StringList]) { IsCommand = false },
        new("currentdate", "date", [.. Match, new(":zone", ArgKind.String, null, "zone")], [ArgKind.String, ArgKind.StringList]) { IsCommand = false },
        new("string", "variables", Match, [ArgKind.StringList, ArgKind.StringList]) { IsCommand = false },
        new("hasflag", "imap4flags", Match, [ArgKind.StringList, ArgKind.StringList], OptionalLeading: 1) { IsCommand = false },
        new("mailboxexists", "mailbox", [], [ArgKind.StringList]) { IsCommand = false },
    ];

    private static readonly Dictionary<string, Signature> Commands = All.Where(s => s.IsCommand).ToDictionary(s => s.Name, StringComparer.Ordinal);
    private static readonly Dictionary<string, Signature> Tests = All.Where(s => !s.IsCommand).ToDictionary(s => s.Name, StringComparer.Ordinal);

    public static Signature? Command(string name) => Commands.GetValueOrDefault(name);

    public static Signature? Test(string name) => Tests.GetValueOrDefault(name);
}
