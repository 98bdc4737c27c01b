namespace Mail.Sieve;

/// <summary>One argument of a command or test (RFC 5228 section 8.2): a tag, a number or a string list (a single
/// string is a list of one, and <see cref="IsList"/> tells which it was written as).</summary>
public abstract record SieveArgument(int Line);

public sealed record TagArgument(string Name, int Line) : SieveArgument(Line);

public sealed record NumberArgument(long Value, int Line) : SieveArgument(Line);

public sealed record StringListArgument(IReadOnlyList<string> Values, bool IsList, int Line) : SieveArgument(Line);

/// <summary>A test: identifier, arguments, and the nested tests of allof/anyof/not.</summary>
public sealed record SieveTest(string Name, IReadOnlyList<SieveArgument> Arguments, IReadOnlyList<SieveTest> Tests, int Line);

/// <summary>A command: identifier, arguments, the test of if/elsif, and the block of a control command.</summary>
public sealed record SieveCommand(string Name, IReadOnlyList<SieveArgument> Arguments, IReadOnlyList<SieveTest> Tests, IReadOnlyList<SieveCommand>? Block, int Line);
