using System.Text;

namespace Mail.ManageSieve.Protocol;

/// <summary>
/// Every response the ManageSieve service sends, in one place: RFC 5804 section 1.2's OK, NO and BYE with an optional
/// response code in parentheses (section 1.3: AUTH-TOO-WEAK, ENCRYPT-NEEDED, QUOTA/MAXSIZE, QUOTA/MAXSCRIPTS,
/// NONEXISTENT, ACTIVE, ALREADYEXISTS, TRYLATER, TAG) and a human-readable string, quoted or a literal.
/// </summary>
internal static class ManageSieveReplies
{
    /// <summary>A string as RFC 5804 section 4 writes it: quoted when short and on one line, else a literal {n}.</summary>
    public static string String(string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes <= 1024 && !value.Any(c => c is '\r' or '\n' or '\0'))
            return "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
        return "{" + bytes + "}\r\n" + value;
    }

    private static string Response(string kind, string? code, string? text) =>
        kind + (code is null ? "" : " (" + code + ")") + (text is null ? "" : " " + String(text));

    public static string Ok(string text) => Response("OK", null, text);
    public static string No(string text) => Response("NO", null, text);
    private static string No(string code, string text) => Response("NO", code, text);
    private static string Bye(string? code, string text) => Response("BYE", code, text);

    public static string Greeting(string host) => Ok($"{host} ManageSieve ready.");
    public static readonly string CapabilityDone = Ok("Capability completed.");
    public static readonly string Logout = Ok("Logout completed.");
    public static readonly string BeginTls = Ok("Begin TLS negotiation now.");
    public static readonly string TlsDone = Ok("TLS negotiation successful.");
    public const string SaslContinue = "\"\"";
    public static readonly string LoggedIn = Ok("Logged in.");
    public static readonly string Unauthenticated = Ok("Unauthenticate completed.");
    public static string Noop(string? tag) => tag is null ? Ok("NOOP completed.") : "OK (TAG " + String(tag) + ") " + String("Done.");
    public static readonly string HaveSpace = Ok("Putscript would succeed.");
    public static readonly string Stored = Ok("PUTSCRIPT completed.");
    public static readonly string ScriptValid = Ok("Script is valid.");
    public static readonly string Listed = Ok("Listscripts completed.");
    public static readonly string Got = Ok("Getscript completed.");
    public static readonly string Activated = Ok("Setactive completed.");
    public static readonly string Deactivated = Ok("Script deactivated.");
    public static readonly string Deleted = Ok("Deletescript completed.");
    public static readonly string Renamed = Ok("Renamescript completed.");

    public static string UnknownCommand(string name) => No($"Unknown command {name}.");
    public static string AuthenticateFirst(string name) => No($"{name} needs an authenticated session; AUTHENTICATE first.");
    public static string NotAfterLogin(string name) => No($"{name} is not valid once authenticated.");
    public static string BadArguments(string name, string usage) => No($"Syntax: {name} {usage}");
    public static string Syntax(string why) => No($"Syntax error: {why}.");
    public static string LineTooLong(int max) => No($"Line longer than {max} octets (ManageSieve:MaxLineLength).");
    public static readonly string TooManyBadCommands = Bye(null, "Too many invalid commands.");
    public static readonly string IdleTimeout = Bye(null, "Disconnected for inactivity.");
    public static readonly string ShuttingDown = Bye("TRYLATER", "Server shutting down.");
    public static readonly string TooManyConnections = Bye("TRYLATER", "Too many connections, try later.");
    public static string LiteralTooLarge(long size) => Bye(null, $"Literal of {size} octets is far too large; closing the connection.");
    public static readonly string InternalError = No("TRYLATER", "Internal error; the failure was logged.");

    public static readonly string TlsActive = No("TLS is already active.");
    public static readonly string TlsUnavailable = No("STARTTLS is not available (no certificate configured).");
    public static readonly string DataAfterStartTls = Bye(null, "Data after STARTTLS; closing the connection.");
    public static readonly string PlaintextDisallowed = No("ENCRYPT-NEEDED", "Plaintext authentication is not allowed without TLS; use STARTTLS first.");
    public static readonly string MechanismUnsupported = No("Only the PLAIN mechanism is supported.");
    public static readonly string AuthCancelled = No("Authentication cancelled.");
    public static string BadSasl(string why) => No(why + ".");
    public static readonly string ActsAsAnother = No("AUTH-TOO-WEAK", "Acting as another user is not allowed.");
    public static readonly string InvalidCredentials = No("Authentication failed.");
    public static readonly string Throttled = No("TRYLATER", "Too many failed logins; try again later.");
    public static readonly string AlreadyAuthenticated = No("Already authenticated.");

    public static string BadName(string why) => No($"Bad script name: {why}");
    public static string TooLarge(long size, int max) => No("QUOTA/MAXSIZE", $"Script of {size} octets is larger than {max} octets (ManageSieve:MaxScriptSize).");
    public static string TooMany(int max) => No("QUOTA/MAXSCRIPTS", $"A user keeps at most {max} scripts.");
    public static string NotUtf8 => No("Script is not valid UTF-8.");
    /// <summary>Pigeonhole's form: the compiler's first error with its line.</summary>
    public static string CompileError(string message) => No(message);
    public static string NoSuchScript(string name) => No("NONEXISTENT", $"There is no script '{name}'.");
    public static string ActiveScript(string name) => No("ACTIVE", $"Script '{name}' is active; SETACTIVE \"\" first.");
    public static string AlreadyExists(string name) => No("ALREADYEXISTS", $"A script '{name}' exists already.");
}
