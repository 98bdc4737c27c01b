namespace Mail.Core.Accounts;

/// <summary>
/// Which addresses of a local domain reach a user besides the user's own: Postfix's <c>recipient_delimiter</c>
/// (alice+lists@ is alice@; each character of <see cref="Delimiters"/> is one, empty turns it off) and the role
/// addresses every domain must have, postmaster (RFC 5321 4.5.1) and abuse (RFC 2142), delivered to
/// <see cref="PostmasterAddress"/> or else to the domain's first user in address order.
/// </summary>
public sealed record RecipientRules(string Delimiters = "+", string? PostmasterAddress = null)
{
    public static readonly RecipientRules Default = new();

    /// <summary>The local parts that every local domain accepts without a user of that name.</summary>
    public static readonly IReadOnlySet<string> RoleLocalParts = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "postmaster", "abuse" };

    /// <summary>"alice+lists" is "alice" (the detail is what follows the first delimiter); a local part that starts
    /// with a delimiter, or has none, is itself.</summary>
    public string BaseLocalPart(string localPart)
    {
        if (Delimiters.Length == 0) return localPart;
        var i = localPart.AsSpan().IndexOfAny(Delimiters);
        return i > 0 ? localPart[..i] : localPart;
    }
}
