namespace Mail.Admin;

/// <summary>An administration request that cannot be done as asked (not an address, no such user): its message is the
/// one line the CLI prints after "mail: " and the console shows or returns as the API's error.</summary>
public sealed class AdminException(string message, bool notFound = false) : Exception(message)
{
    /// <summary>The thing named does not exist (HTTP 404) rather than being malformed (HTTP 400).</summary>
    public bool NotFound { get; } = notFound;
}
