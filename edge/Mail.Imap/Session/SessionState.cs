namespace Mail.Imap.Session;

/// <summary>The states of an IMAP connection (RFC 9051 3): a command is valid in some of them (<see cref="ImapCommands"/>).</summary>
internal enum SessionState { NotAuthenticated, Authenticated, Selected, Logout }

/// <summary>Tag and name of a command ("UID FETCH" for UID commands), for the logs.</summary>
internal readonly record struct CommandName(string Tag, string Name);
