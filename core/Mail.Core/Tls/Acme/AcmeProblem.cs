namespace Mail.Core.Tls.Acme;

/// <summary>
/// RFC 7807 problem document as RFC 8555 6.7 uses it: type "urn:ietf:params:acme:error:badNonce" and the like.
/// </summary>
public sealed record AcmeProblem(string? Type = null, string? Detail = null, int? Status = null, IReadOnlyList<AcmeProblem>? Subproblems = null, AcmeIdentifier? Identifier = null)
{
    public const string BadNonce = "urn:ietf:params:acme:error:badNonce";

    /// <summary>One line for the log: the type without its URN prefix, the detail, and each subproblem's.</summary>
    public override string ToString()
    {
        var type = Type?.Replace("urn:ietf:params:acme:error:", "", StringComparison.Ordinal) ?? "problem";
        var line = Detail is null ? type : $"{type}: {Detail}";
        if (Subproblems is { Count: > 0 })
            line += " (" + string.Join("; ", Subproblems.Select(s => s.Identifier is null ? s.ToString() : $"{s.Identifier.Value}: {s}")) + ")";
        return line.ReplaceLineEndings(" ");
    }
}

/// <summary>The CA answered with a problem document (or an error status without one).</summary>
public sealed class AcmeProblemException(AcmeProblem problem, Uri url) : Exception($"{problem} (from {url})")
{
    public AcmeProblem Problem { get; } = problem;
}
