namespace Mail.Imap.Session;

/// <summary>The commands this server knows, as RFC 9051 6 groups them by the states they are valid in, and what the
/// session owes the client after each (RFC 9051 7: when changes to the selected mailbox may or must be reported).</summary>
internal static class ImapCommands
{
    private static readonly HashSet<string> AnyState = ["CAPABILITY", "NOOP", "LOGOUT", "ID"];
    private static readonly HashSet<string> NotAuthenticatedOnly = ["STARTTLS", "LOGIN", "AUTHENTICATE"];
    private static readonly HashSet<string> AuthenticatedOrSelected =
        ["ENABLE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "NAMESPACE", "IDLE", "NOTIFY",
         "GETQUOTA", "GETQUOTAROOT", "SETQUOTA"];
    private static readonly HashSet<string> SelectedOnly =
        ["CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE",
         "UID FETCH", "UID STORE", "UID COPY", "UID MOVE", "UID SEARCH", "UID EXPUNGE", "SORT", "UID SORT", "THREAD", "UID THREAD", "CANCELUPDATE"];

    public static bool IsKnown(string name) =>
        AnyState.Contains(name) || NotAuthenticatedOnly.Contains(name) || AuthenticatedOrSelected.Contains(name) || SelectedOnly.Contains(name);

    public static bool IsAllowed(string name, SessionState state) =>
        AnyState.Contains(name)
        || (NotAuthenticatedOnly.Contains(name) && state == SessionState.NotAuthenticated)
        || (AuthenticatedOrSelected.Contains(name) && state is SessionState.Authenticated or SessionState.Selected)
        || (SelectedOnly.Contains(name) && state == SessionState.Selected);

    /// <summary>The state's name in a BAD reply ("not valid in the selected state").</summary>
    public static string Describe(SessionState state) => state switch
    {
        SessionState.NotAuthenticated => "not authenticated",
        SessionState.Authenticated => "authenticated",
        SessionState.Selected => "selected",
        _ => "logout",
    };

    /// <summary>Commands after which the session always looks for changes: NOOP and CHECK (how clients poll), and
    /// every command that may change the selected mailbox (its own change must show before its tagged OK, as must
    /// what other sessions did to the same messages meanwhile).</summary>
    private static readonly HashSet<string> ChangesMailboxes =
        ["NOOP", "CHECK", "APPEND", "STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE", "EXPUNGE", "UID EXPUNGE"];

    /// <summary>Commands during which EXPUNGE responses must not be sent (RFC 9051 7.5.1): sequence numbers would shift under the client.</summary>
    private static readonly HashSet<string> NoExpungeDuring = ["FETCH", "STORE", "SEARCH", "SORT", "THREAD"];

    /// <summary>True for the commands in <see cref="ChangesMailboxes"/>.</summary>
    public static bool AlwaysLooksForChanges(string name) => ChangesMailboxes.Contains(name);

    /// <summary>True for the commands in <see cref="NoExpungeDuring"/>.</summary>
    public static bool HoldsBackExpunges(string name) => NoExpungeDuring.Contains(name);

    /// <summary>Commands that name messages by sequence number: an EXPUNGE reported while one is pipelined would shift
    /// the numbers its client chose.</summary>
    public static bool NamesMessagesBySequence(string name) => name is "FETCH" or "STORE" or "SEARCH" or "SORT" or "THREAD" or "COPY" or "MOVE";
}
