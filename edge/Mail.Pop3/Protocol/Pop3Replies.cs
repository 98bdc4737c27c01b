namespace Mail.Pop3.Protocol;

/// <summary>
/// Every status line the POP3 gateway sends, in one place. Response codes in brackets are RFC 2449's extended response
/// codes: [IN-USE] (RFC 2449 8.1.2), [AUTH], [SYS/TEMP] and [SYS/PERM] (RFC 3206).
/// </summary>
internal static class Pop3Replies
{
    public static string Greeting(string host) => $"+OK {host} POP3 server ready";
    public const string Capabilities = "+OK Capability list follows";
    public const string Bye = "+OK Bye";
    public const string BeginTls = "+OK Begin TLS negotiation now";
    public const string UserAccepted = "+OK Send PASS";
    public const string Noop = "+OK";
    public const string SaslContinue = "+ ";
    public const string AuthMechanisms = "+OK Mechanisms follow";
    public static string LoggedIn(int count, long octets) => $"+OK Logged in; maildrop has {count} messages ({octets} octets)";
    public static string Stat(int count, long octets) => $"+OK {count} {octets}";
    public static string ScanListing(int count, long octets) => $"+OK {count} messages ({octets} octets)";
    public static string ScanLine(int number, long size) => $"+OK {number} {size}";
    public const string UidListing = "+OK Unique-ID listing follows";
    public static string UidLine(int number, string uid) => $"+OK {number} {uid}";
    public static string Message(long octets) => $"+OK {octets} octets";
    public const string Top = "+OK Top of message follows";
    public static string Deleted(int number) => $"+OK Message {number} deleted";
    public static string Reset(int count, long octets) => $"+OK Maildrop has {count} messages ({octets} octets)";
    public static string Quit(string host, int removed) => $"+OK {host} POP3 server signing off ({removed} messages deleted)";

    public static string UnknownCommand(string name) => $"-ERR Unknown command {name}";
    public static string WrongState(string name, string state) => $"-ERR {name} is not valid in the {state} state";
    public static string BadArguments(string name, string usage) => $"-ERR Syntax: {name} {usage}";
    public static string LineTooLong(int max) => $"-ERR Line longer than {max} octets";
    public const string Nul = "-ERR NUL is not allowed in a command line";
    public const string TooManyBadCommands = "-ERR Too many bad commands; closing the connection";
    public const string IdleTimeout = "-ERR Autologout; idle for too long";
    public const string ShuttingDown = "-ERR [SYS/TEMP] Server shutting down";
    public const string TooManyConnections = "-ERR [SYS/TEMP] Too many connections, try later";

    public const string TlsActive = "-ERR TLS is already active";
    public const string TlsUnavailable = "-ERR STLS is not available (no certificate configured)";
    public const string DataAfterStls = "-ERR Data after STLS; closing the connection";
    public const string PassWithoutUser = "-ERR Send USER first";
    public const string PlaintextDisallowed = "-ERR [AUTH] Plaintext authentication is not allowed without TLS; use STLS first";
    public const string MechanismUnsupported = "-ERR Only the PLAIN mechanism is supported";
    public const string AuthCancelled = "-ERR Authentication cancelled";
    public static string BadSasl(string why) => $"-ERR {why}";
    public const string ActsAsAnother = "-ERR [AUTH] Acting as another user is not allowed";
    public const string InvalidCredentials = "-ERR [AUTH] Invalid credentials";
    public const string Throttled = "-ERR [SYS/TEMP] Too many failed logins; try again later";
    public const string InUse = "-ERR [IN-USE] Maildrop is in use by another POP3 session";
    public const string MaildropUnavailable = "-ERR [SYS/TEMP] Maildrop cannot be opened now; try again later";

    public static string NoSuchMessage(string number) => $"-ERR No message {number}";
    public static string AlreadyDeleted(int number) => $"-ERR Message {number} is already deleted";
    public static string MessageGone(int number) => $"-ERR [SYS/PERM] Message {number} is no longer in the store";
    public const string InternalError = "-ERR [SYS/TEMP] Internal error; the failure was logged";
    public const string ReadFailed = "-ERR [SYS/TEMP] The message cannot be read now; try again later";
    public static string NotRemoved(int failed) => $"-ERR [SYS/TEMP] {failed} deleted messages not removed; try again later";
}
