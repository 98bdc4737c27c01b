namespace Mail.Sieve;

/// <summary>A script that does not compile (syntax or validation): the line and what is wrong, as Pigeonhole's
/// <c>sievec</c> reports it ("line 3: error: unknown command 'iff'"). ManageSieve's CHECKSCRIPT and PUTSCRIPT answer
/// with <see cref="Message"/>.</summary>
public sealed class SieveCompileException(int line, string error) : Exception($"line {line}: error: {error}")
{
    public int Line => line;
    public string Error => error;
}

/// <summary>A failure while the script runs (too many actions, a bad mailbox name, conflicting actions): the caller
/// falls back to the implicit keep, so the message is never lost.</summary>
public sealed class SieveRuntimeException(int line, string error) : Exception($"line {line}: runtime error: {error}")
{
    public int Line => line;
    public string Error => error;
}
