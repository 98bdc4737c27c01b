namespace Mail.Sieve;

/// <summary>A validated command or test: tags by name (with their value, null for a bare tag), positional
/// arguments, nested tests, the block, and for if/elsif the branch that follows.</summary>
internal sealed class Node(string name, int line)
{
    public string Name => name;
    public int Line => line;
    public Dictionary<string, SieveArgument?> Tags { get; } = new(StringComparer.Ordinal);
    public List<SieveArgument> Positional { get; } = [];
    public List<Node> Tests { get; } = [];
    public List<Node>? Block { get; set; }
    public Node? Else { get; set; }

    public bool Has(string tag) => Tags.ContainsKey(tag);

    public string? TagString(string tag) => Tags.GetValueOrDefault(tag) is StringListArgument s ? s.Values[0] : null;

    public IReadOnlyList<string>? TagList(string tag) => Tags.GetValueOrDefault(tag) is StringListArgument s ? s.Values : null;
}

/// <summary>A compiled Sieve script: parsed and validated, ready to run any number of times. What ManageSieve's
/// CHECKSCRIPT and PUTSCRIPT need is <see cref="Compile"/> (or <see cref="Check"/>): the first error with its line.</summary>
public sealed class SieveScript
{
    /// <summary>Pigeonhole's sieve_max_script_size default.</summary>
    public const int MaxScriptSize = 1 << 20;

    internal List<Node> Commands { get; }

    /// <summary>Every capability <c>require</c> accepts: what ManageSieve's SIEVE capability lists.</summary>
    public static IReadOnlyList<string> SupportedExtensions => Grammar.Capabilities;

    public IReadOnlySet<string> Extensions { get; }

    private SieveScript(List<Node> commands, IReadOnlySet<string> extensions)
    {
        Commands = commands;
        Extensions = extensions;
    }

    /// <summary>Parses and validates; throws <see cref="SieveCompileException"/> naming the line of the first error.</summary>
    public static SieveScript Compile(string source)
    {
        if (source.Length > MaxScriptSize) throw new SieveCompileException(1, $"script is larger than {MaxScriptSize} characters");
        var validator = new Validator();
        var commands = validator.Validate(Parser.Parse(source));
        return new SieveScript(commands, validator.Extensions);
    }

    /// <summary>The first error of a script, or null when it compiles.</summary>
    public static SieveCompileException? Check(string source)
    {
        try
        {
            Compile(source);
            return null;
        }
        catch (SieveCompileException e)
        {
            return e;
        }
    }
}
