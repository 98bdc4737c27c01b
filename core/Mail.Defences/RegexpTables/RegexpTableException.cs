namespace Mail.Defences.RegexpTables;

/// <summary>A table that cannot be used: bad pattern, bad flags, unknown action, unbalanced if/endif.
/// The message names the file and line so a startup error points the admin at the fix.</summary>
public sealed class RegexpTableException(string source, int line, string problem)
    : Exception($"{source}, line {line}: {problem}")
{
    public string TableSource { get; } = source;
    public int Line { get; } = line;
    public string Problem { get; } = problem;
}
