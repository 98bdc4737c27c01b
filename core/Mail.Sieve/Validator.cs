namespace Mail.Sieve;

/// <summary>Checks a parsed script against <see cref="Grammar"/>: known commands and tests, their extensions named
/// by <c>require</c>, tags and arguments of the right kind and number, if/elsif/else order, comparators and
/// relational operators. Errors carry the line, in Pigeonhole's words where it has them.</summary>
internal sealed class Validator
{
    private static readonly HashSet<string> Relations = ["gt", "ge", "lt", "le", "eq", "ne"];
    internal static readonly HashSet<string> DateParts = ["year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone", "weekday"];
    private readonly HashSet<string> _extensions = new(StringComparer.Ordinal);

    public IReadOnlySet<string> Extensions => _extensions;

    public List<Node> Validate(IReadOnlyList<SieveCommand> commands)
    {
        var requiresDone = false;
        foreach (var c in commands)
        {
            if (c.Name != "require") { requiresDone = true; continue; }
            if (requiresDone) throw new SieveCompileException(c.Line, "require commands can only be placed at top level at the beginning of the file");
            if (c.Arguments is not [StringListArgument caps] || c.Tests.Count > 0 || c.Block is not null)
                throw new SieveCompileException(c.Line, "the require command expects one string list argument");
            foreach (var cap in caps.Values)
            {
                if (!Grammar.Capabilities.Contains(cap)) throw new SieveCompileException(c.Line, $"require command: unknown Sieve capability `{cap}'");
                _extensions.Add(cap);
            }
        }
        return Block(_extensions.Contains("encoded-character") ? EncodedCharacter.Apply(commands) : commands, topLevel: true);
    }

    private List<Node> Block(IReadOnlyList<SieveCommand> commands, bool topLevel)
    {
        var nodes = new List<Node>();
        Node? lastIf = null;
        foreach (var c in commands)
        {
            if (c.Name == "require")
            {
                if (!topLevel) throw new SieveCompileException(c.Line, "require commands can only be placed at top level at the beginning of the file");
                continue;
            }
            var node = Command(c);
            if (c.Name is "elsif" or "else")
            {
                if (lastIf is null) throw new SieveCompileException(c.Line, $"{c.Name} command must follow an if or elsif command");
                lastIf.Else = node;
                lastIf = c.Name == "elsif" ? node : null;
                continue;
            }
            lastIf = c.Name == "if" ? node : null;
            nodes.Add(node);
        }
        return nodes;
    }

    private Node Command(SieveCommand c)
    {
        var sig = Grammar.Command(c.Name);
        if (sig is null || (sig.Extension is { } ext && !_extensions.Contains(ext)))
            throw new SieveCompileException(c.Line, Grammar.Test(c.Name) is null
                ? $"unknown command '{c.Name}'{Hint(sig?.Extension)}"
                : $"'{c.Name}' is a test, not a command");
        var node = Bind(sig, c.Name, c.Arguments, c.Line);
        if (sig.Tests == 1 && c.Tests.Count != 1) throw new SieveCompileException(c.Line, $"the {c.Name} command requires one test");
        if (sig.Tests == 0 && c.Tests.Count > 0) throw new SieveCompileException(c.Line, $"missing semicolon ';' after {c.Name} command");
        foreach (var t in c.Tests) node.Tests.Add(Test(t));
        if (sig.Block && c.Block is null) throw new SieveCompileException(c.Line, $"the {c.Name} command requires a block");
        if (!sig.Block && c.Block is not null) throw new SieveCompileException(c.Line, $"the {c.Name} command takes no block; expected ';'");
        if (c.Block is not null) node.Block = Block(c.Block, topLevel: false);
        return node;
    }

    private Node Test(SieveTest t)
    {
        var sig = Grammar.Test(t.Name);
        if (sig is null || (sig.Extension is { } ext && !_extensions.Contains(ext)))
            throw new SieveCompileException(t.Line, Grammar.Command(t.Name) is null
                ? $"unknown test '{t.Name}'{Hint(sig?.Extension)}"
                : $"'{t.Name}' is a command, not a test");
        var node = Bind(sig, t.Name, t.Arguments, t.Line);
        if (sig.Tests == 1 && t.Tests.Count != 1) throw new SieveCompileException(t.Line, $"the {t.Name} test requires one test");
        if (sig.Tests == -1 && t.Tests.Count == 0) throw new SieveCompileException(t.Line, $"the {t.Name} test requires a list of tests");
        if (sig.Tests == 0 && t.Tests.Count > 0) throw new SieveCompileException(t.Line, $"the {t.Name} test takes no tests");
        foreach (var inner in t.Tests) node.Tests.Add(Test(inner));
        return node;
    }

    private static string Hint(string? extension) => extension is null ? "" : $" (missing require \"{extension}\")";

    private Node Bind(Signature sig, string name, IReadOnlyList<SieveArgument> args, int line)
    {
        var node = new Node(name, line);
        var groups = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        for (; i < args.Count && args[i] is TagArgument tag; i++)
        {
            var spec = sig.Tags.FirstOrDefault(s => s.Name == tag.Name);
            if (spec is null || (spec.Extension is { } ext && !_extensions.Contains(ext)))
                throw new SieveCompileException(tag.Line, $"unknown tagged argument '{tag.Name}' for the {name} {(sig.IsCommand ? "command" : "test")}{Hint(spec?.Extension)}");
            if (node.Tags.ContainsKey(tag.Name)) throw new SieveCompileException(tag.Line, $"tagged argument '{tag.Name}' given twice");
            if (spec.Group is { } g)
            {
                if (groups.TryGetValue(g, out var other)) throw new SieveCompileException(tag.Line, $"'{tag.Name}' cannot be used with '{other}'");
                groups[g] = tag.Name;
            }
            SieveArgument? value = null;
            if (spec.Value != ArgKind.None)
            {
                if (i + 1 >= args.Count || !Fits(args[i + 1], spec.Value))
                    throw new SieveCompileException(tag.Line, $"the '{tag.Name}' tag of the {name} {(sig.IsCommand ? "command" : "test")} expects a {Describe(spec.Value)}");
                value = args[++i];
            }
            node.Tags[tag.Name] = value;
        }
        for (; i < args.Count; i++)
        {
            if (args[i] is TagArgument late) throw new SieveCompileException(late.Line, $"tagged argument '{late.Name}' must come before the positional arguments of {name}");
            node.Positional.Add(args[i]);
        }
        var expected = sig.Positional;
        var skip = node.Positional.Count == expected.Length - sig.OptionalLeading ? sig.OptionalLeading : 0;
        if (node.Positional.Count != expected.Length - skip)
            throw new SieveCompileException(line, $"the {name} {(sig.IsCommand ? "command" : "test")} expects {expected.Length - sig.OptionalLeading}{(sig.OptionalLeading > 0 ? $" or {expected.Length}" : "")} positional argument(s), found {node.Positional.Count}");
        for (var p = 0; p < node.Positional.Count; p++)
            if (!Fits(node.Positional[p], expected[p + skip]))
                throw new SieveCompileException(node.Positional[p].Line, $"argument {p + 1} of {name} must be a {Describe(expected[p + skip])}");
        if (name == "size" && groups.Count == 0) throw new SieveCompileException(line, "the size test requires :over or :under");
        CheckMatch(node, name, line);
        if (name == "set" && !IsVariableName(((StringListArgument)node.Positional[0]).Values[0]))
            throw new SieveCompileException(line, $"invalid variable name '{((StringListArgument)node.Positional[0]).Values[0]}'");
        if (name is "date" or "currentdate")
        {
            var part = ((StringListArgument)node.Positional[name == "date" ? 1 : 0]).Values[0].ToLowerInvariant();
            if (!DateParts.Contains(part) && !part.Contains("${", StringComparison.Ordinal)) throw new SieveCompileException(line, $"unknown date part '{part}'");
        }
        return node;
    }

    private void CheckMatch(Node node, string name, int line)
    {
        var comparator = node.TagString(":comparator");
        if (comparator is not null)
        {
            if (Comparators.Get(comparator) is null) throw new SieveCompileException(line, $"unknown comparator '{comparator}'");
            if (comparator == "i;ascii-numeric" && !_extensions.Contains("comparator-i;ascii-numeric"))
                throw new SieveCompileException(line, "comparator 'i;ascii-numeric' needs require \"comparator-i;ascii-numeric\"");
            if (comparator == "i;ascii-numeric" && (node.Has(":contains") || node.Has(":matches")))
                throw new SieveCompileException(line, $"the {(node.Has(":contains") ? ":contains" : ":matches")} match type does not work with the i;ascii-numeric comparator");
        }
        var relation = node.TagString(":value") ?? node.TagString(":count");
        if (relation is not null && !Relations.Contains(relation.ToLowerInvariant()))
            throw new SieveCompileException(line, $"invalid relational match '{relation}' (gt, ge, lt, le, eq or ne)");
    }

    internal static bool IsVariableName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static bool Fits(SieveArgument arg, ArgKind kind) => kind switch
    {
        ArgKind.Number => arg is NumberArgument,
        ArgKind.String => arg is StringListArgument { IsList: false },
        ArgKind.StringList => arg is StringListArgument,
        _ => false,
    };

    private static string Describe(ArgKind kind) => kind switch
    {
        ArgKind.Number => "number",
        ArgKind.String => "string",
        _ => "string list",
    };
}
