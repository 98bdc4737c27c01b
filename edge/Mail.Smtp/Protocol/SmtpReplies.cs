using System.Globalization;

namespace Mail.Smtp.Protocol;

/// <summary>
/// Every reply the SMTP server sends, by name (as Postfix's smtpd and Stalwart keep theirs): code, RFC 3463 enhanced
/// code and text in one place. Replies with a fixed text are encoded once; those that carry data (an address, a size)
/// are factory methods. Replies that begin with our host name are in <see cref="SmtpHostReplies"/>. A policy's own
/// reply (<see cref="SmtpPolicyResult"/>) is the policy's text, written as it gave it.
/// </summary>
internal static class SmtpReplies
{
    // ---- any state -------------------------------------------------------------------------------

    public static readonly SmtpReply Ok = SmtpReply.Fixed(250, "2.0.0", "Ok");
    public static readonly SmtpReply CommandUnrecognized = SmtpReply.Fixed(500, "5.5.2", "Command not recognized");
    public static readonly SmtpReply SyntaxError = SmtpReply.Fixed(500, "5.5.2", "Syntax error");
    public static readonly SmtpReply LineTooLong = SmtpReply.Fixed(500, "5.5.2", "Line too long");
    public static readonly SmtpReply RsetSyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: RSET");
    public static readonly SmtpReply VrfySyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: VRFY address");
    public static readonly SmtpReply CannotVrfy = SmtpReply.Fixed(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
    public static readonly SmtpReply ExpnNotAvailable = SmtpReply.Fixed(502, "5.5.1", "EXPN not available");
    public static readonly SmtpReply Help = SmtpReply.Fixed(214, "2.0.0", "Commands: EHLO HELO AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS; see RFC 5321");

    /// <summary>A command line the parser refused (bare CR or LF, not UTF-8, too long...): 500 with the parser's reason.</summary>
    public static SmtpReply CommandSyntax(string? error) => error switch
    {
        null => SyntaxError,
        "Line too long" => LineTooLong,
        _ => new(500, "5.5.2", error),
    };

    // ---- HELO / EHLO (RFC 2034 section 3: their 250 carries no enhanced code) -----------------------

    public static readonly SmtpReply EhloSyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: EHLO hostname");
    public static readonly SmtpReply HeloSyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: HELO hostname");

    /// <summary>EHLO's service extensions that never change (RFC 5321 4.1.1.1), each a continued line of the 250.</summary>
    public static readonly SmtpReply Pipelining = SmtpReply.Fixed(250, null, "PIPELINING", continues: true);
    public static readonly SmtpReply EightBitMime = SmtpReply.Fixed(250, null, "8BITMIME", continues: true);
    public static readonly SmtpReply SmtpUtf8 = SmtpReply.Fixed(250, null, "SMTPUTF8", continues: true);
    public static readonly SmtpReply EnhancedStatusCodes = SmtpReply.Fixed(250, null, "ENHANCEDSTATUSCODES", continues: true);
    public static readonly SmtpReply Chunking = SmtpReply.Fixed(250, null, "CHUNKING", continues: true);
    public static readonly SmtpReply StartTlsOffered = SmtpReply.Fixed(250, null, "STARTTLS", continues: true);
    public static readonly SmtpReply AuthOffered = SmtpReply.Fixed(250, null, "AUTH PLAIN LOGIN", continues: true);
    /// <summary>The last line of the EHLO reply.</summary>
    public static readonly SmtpReply Dsn = SmtpReply.Fixed(250, null, "DSN");

    public static SmtpReply Size(long maxMessageSize) => new(250, null, string.Create(CultureInfo.InvariantCulture, $"SIZE {maxMessageSize}"), continues: true);

    // ---- STARTTLS (RFC 3207) ---------------------------------------------------------------------

    public static readonly SmtpReply StartTlsNotAvailable = SmtpReply.Fixed(502, "5.5.1", "STARTTLS not available");
    public static readonly SmtpReply TlsAlreadyActive = SmtpReply.Fixed(503, "5.5.1", "TLS already active");
    public static readonly SmtpReply StartTlsSyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: STARTTLS");
    public static readonly SmtpReply ReadyToStartTls = SmtpReply.Fixed(220, "2.0.0", "Ready to start TLS");

    // ---- AUTH (RFC 4954) -------------------------------------------------------------------------

    public static readonly SmtpReply AuthNotEnabled = SmtpReply.Fixed(503, "5.5.1", "Error: authentication not enabled on this port; use the submission port");
    public static readonly SmtpReply SendEhloFirst = SmtpReply.Fixed(503, "5.5.1", "Send EHLO first");
    public static readonly SmtpReply AlreadyAuthenticated = SmtpReply.Fixed(503, "5.5.1", "Already authenticated");
    public static readonly SmtpReply AuthInTransaction = SmtpReply.Fixed(503, "5.5.1", "AUTH not allowed during a mail transaction");
    public static readonly SmtpReply EncryptionRequired = SmtpReply.Fixed(538, "5.7.11", "Encryption required for requested authentication mechanism");
    public static readonly SmtpReply AuthSyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
    public static readonly SmtpReply AuthMechanismUnrecognized = SmtpReply.Fixed(504, "5.5.4", "Unrecognized authentication type");
    public static readonly SmtpReply InvalidPlainResponse = SmtpReply.Fixed(501, "5.5.2", "Invalid PLAIN response");
    public static readonly SmtpReply CannotDecodeResponse = SmtpReply.Fixed(501, "5.5.2", "Cannot decode response");
    public static readonly SmtpReply ResponseNotUtf8 = SmtpReply.Fixed(501, "5.5.2", "Response is not UTF-8");
    public static readonly SmtpReply AuthCancelled = SmtpReply.Fixed(501, "5.0.0", "Authentication cancelled");
    public static readonly SmtpReply AuthTemporaryFailure = SmtpReply.Fixed(454, "4.7.0", "Temporary authentication failure");
    public static readonly SmtpReply AuthCredentialsInvalid = SmtpReply.Fixed(535, "5.7.8", "Authentication credentials invalid");
    public static readonly SmtpReply AuthSuccessful = SmtpReply.Fixed(235, "2.7.0", "Authentication successful");

    /// <summary>A SASL response line the parser refused (bare CR or LF, not ASCII, too long).</summary>
    public static SmtpReply ResponseSyntax(string? error) => error is null ? CannotDecodeResponse : new(501, "5.5.2", error);

    /// <summary>"334 base64(challenge)" (RFC 4954 4: no enhanced code).</summary>
    public static SmtpReply Challenge(string base64) => new(334, null, base64);

    // ---- MAIL ------------------------------------------------------------------------------------

    public static readonly SmtpReply SendHeloFirst = SmtpReply.Fixed(503, "5.5.1", "Send HELO/EHLO first");
    public static readonly SmtpReply NestedMail = SmtpReply.Fixed(503, "5.5.1", "Nested MAIL command");
    public static readonly SmtpReply AuthenticationRequired = SmtpReply.Fixed(530, "5.7.0", "Authentication required");
    public static readonly SmtpReply MailParametersNeedEhlo = SmtpReply.Fixed(555, "5.5.4", "MAIL parameters need EHLO");
    public static readonly SmtpReply BadSize = SmtpReply.Fixed(501, "5.5.4", "Bad SIZE value");
    public static readonly SmtpReply BodyInvalid = SmtpReply.Fixed(501, "5.5.4", "BODY must be 7BIT or 8BITMIME");
    /// <summary>BODY=BINARYMIME: a valid RFC 3030 value we do not offer, so 555 (parameter not implemented) not 501.</summary>
    public static readonly SmtpReply BodyNotImplemented = SmtpReply.Fixed(555, "5.5.4", "BODY must be 7BIT or 8BITMIME");
    public static readonly SmtpReply SmtpUtf8TakesNoValue = SmtpReply.Fixed(501, "5.5.4", "SMTPUTF8 takes no value");
    public static readonly SmtpReply RetInvalid = SmtpReply.Fixed(501, "5.5.4", "RET must be FULL or HDRS");
    public static readonly SmtpReply EnvIdInvalid = SmtpReply.Fixed(501, "5.5.4", "ENVID must be xtext of at most 100 characters");
    public static readonly SmtpReply AuthParameterInvalid = SmtpReply.Fixed(501, "5.5.4", "AUTH must be <> or an xtext mailbox");
    public static readonly SmtpReply NonAsciiNeedsSmtpUtf8 = SmtpReply.Fixed(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
    public static readonly SmtpReply BadSenderSyntax = SmtpReply.Fixed(553, "5.1.7", "Bad sender address syntax");
    public static readonly SmtpReply SenderOk = SmtpReply.Fixed(250, "2.1.0", "Ok");

    /// <summary>A MAIL or RCPT path the parser refused, with its reason.</summary>
    public static SmtpReply PathSyntax(string reason) => new(501, "5.5.4", reason);

    public static SmtpReply UnsupportedParameter(string keyword) => new(555, "5.5.4", $"Unsupported parameter {keyword}");

    /// <summary>RFC 1870: SIZE above the limit at MAIL, or data past it.</summary>
    public static SmtpReply MessageTooBig(long maxMessageSize) =>
        new(552, "5.3.4", string.Create(CultureInfo.InvariantCulture, $"Message size exceeds fixed maximum message size ({maxMessageSize} octets)"));

    /// <summary>Postfix's reject_sender_login_mismatch.</summary>
    public static SmtpReply SenderNotOwned(string mailFrom, string user) => new(553, "5.7.1", $"<{mailFrom}>: Sender address rejected: not owned by user {user}");

    /// <summary>Smtp:RateLimits for messages or recipients; <paramref name="what"/> names the limit that was reached.</summary>
    public static SmtpReply RateLimited(string what) => new(450, "4.7.1", $"{what}: rate limit exceeded, try again later");

    // ---- RCPT ------------------------------------------------------------------------------------

    public static readonly SmtpReply NeedMail = SmtpReply.Fixed(503, "5.5.1", "Need MAIL command");
    public static readonly SmtpReply RcptAfterBdat = SmtpReply.Fixed(503, "5.5.1", "RCPT not allowed after BDAT");
    public static readonly SmtpReply RcptParametersNeedEhlo = SmtpReply.Fixed(555, "5.5.4", "RCPT parameters need EHLO");
    public static readonly SmtpReply TooManyRecipients = SmtpReply.Fixed(452, "4.5.3", "Too many recipients");
    public static readonly SmtpReply NotifyInvalid = SmtpReply.Fixed(501, "5.5.4", "NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
    public static readonly SmtpReply OrcptInvalid = SmtpReply.Fixed(501, "5.5.4", "ORCPT must be addr-type;xtext");
    public static readonly SmtpReply BadRecipientSyntax = SmtpReply.Fixed(501, "5.1.3", "Bad recipient address syntax");
    public static readonly SmtpReply RecipientOk = SmtpReply.Fixed(250, "2.1.5", "Ok");

    /// <summary>Not one of our domains, and the client may not relay (Postfix reject_unauth_destination).</summary>
    public static SmtpReply RelayDenied(string path) => new(554, "5.7.1", $"<{path}>: Relay access denied");

    public static SmtpReply UserUnknown(string path) => new(550, "5.1.1", $"<{path}>: Recipient address rejected: User unknown");

    /// <summary>RFC 3463 X.4.6 "Routing loop detected": the mistake is ours, the sender can only be told.</summary>
    public static SmtpReply AliasLoop(string path) => new(550, "5.4.6", $"<{path}>: Recipient address rejected: Alias loop");

    /// <summary>A local recipient refused for a reason of its own (an SRS address that does not verify).</summary>
    public static SmtpReply RecipientRejected(string path, string? why) => new(550, "5.1.1", $"<{path}>: Recipient address rejected: {why}");

    /// <summary>RFC 3463 X.2.2 at RCPT: the mailbox is full, or the announced SIZE does not fit.</summary>
    public static SmtpReply MailboxFull(string path) => new(552, "5.2.2", $"<{path}>: Recipient address rejected: Mailbox full");

    // ---- DATA and BDAT ---------------------------------------------------------------------------

    public static readonly SmtpReply DataAfterBdat = SmtpReply.Fixed(503, "5.5.1", "DATA not allowed after BDAT");
    public static readonly SmtpReply NoValidRecipients = SmtpReply.Fixed(554, "5.5.1", "No valid recipients");
    public static readonly SmtpReply DataSyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: DATA");
    public static readonly SmtpReply BdatSyntax = SmtpReply.Fixed(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
    /// <summary>RFC 5321 4.2: 354 carries no enhanced code.</summary>
    public static readonly SmtpReply StartMailInput = SmtpReply.Fixed(354, null, "End data with <CR><LF>.<CR><LF>");
    public static readonly SmtpReply BareLineEnding = SmtpReply.Fixed(550, "5.6.0", "Message refused: bare <CR> or <LF> in message data (RFC 5321 2.3.8)");
    /// <summary>The message store could not be opened, before any data was read.</summary>
    public static readonly SmtpReply TemporaryLocalProblem = SmtpReply.Fixed(451, "4.3.0", "Temporary local problem, try again later");
    /// <summary>Storing or queueing the message failed after its data was read.</summary>
    public static readonly SmtpReply LocalErrorInProcessing = SmtpReply.Fixed(451, "4.3.0", "Local error in processing, try again later");

    /// <summary>RFC 5321 4.5.3.1.6: a text line longer than Smtp:MaxLineLength.</summary>
    public static SmtpReply LineTooLongInData(int maxLineLength) =>
        new(552, "5.6.0", string.Create(CultureInfo.InvariantCulture, $"Message refused: text line longer than {maxLineLength} octets (RFC 5321 4.5.3.1.6)"));

    /// <summary>A BDAT chunk other than the last (RFC 3030 2).</summary>
    public static SmtpReply ChunkReceived(long size) => new(250, "2.0.0", string.Create(CultureInfo.InvariantCulture, $"{size} octets received"));

    /// <summary>The message is stored and queued (the only 250 that ends a transaction).</summary>
    public static SmtpReply Queued(string queueId) => new(250, "2.0.0", $"Ok: queued as {queueId}");

    /// <summary>At the end of data: the message fits none of the recipients' quotas.</summary>
    public static SmtpReply MessageOverQuota(string recipients) => new(552, "5.2.2", $"{recipients}: Mailbox full");

    /// <summary>At the end of data: it fits some recipients only, so it is refused for all, for now (see SmtpSession.Quota).</summary>
    public static SmtpReply MessageOverQuotaForSome(string recipients) =>
        new(452, "4.2.2", $"{recipients}: Mailbox full; the message was not accepted for any recipient, try again later");
}

/// <summary>
/// The replies that begin with our host name (the greeting, QUIT, and the 421s that close the connection), encoded once
/// per host name (a server has one; the last one built is kept).
/// </summary>
internal sealed class SmtpHostReplies
{
    private static SmtpHostReplies? s_last;

    private SmtpHostReplies(string hostName)
    {
        HostName = hostName;
        Greeting = SmtpReply.Fixed(220, null, $"{hostName} ESMTP ready");
        GreetingBanner = SmtpReply.Fixed(220, null, $"{hostName} ESMTP", continues: true);
        Bye = SmtpReply.Fixed(221, "2.0.0", $"{hostName} Bye");
        ShuttingDown = SmtpReply.Fixed(421, "4.3.2", $"{hostName} Service shutting down");
        Timeout = SmtpReply.Fixed(421, "4.4.2", $"{hostName} Error: timeout exceeded");
        TooManyErrors = SmtpReply.Fixed(421, "4.7.0", $"{hostName} Too many errors, closing connection");
        TooManyCommandsWithoutMail = SmtpReply.Fixed(421, "4.7.0", $"{hostName} Too many commands without a mail transaction, closing connection");
        LocalError = SmtpReply.Fixed(421, "4.3.0", $"{hostName} Local error, closing connection");
        BdatFramingLost = SmtpReply.Fixed(421, "4.5.0", $"{hostName} BDAT framing lost, closing connection");
        Pregreet = SmtpReply.Fixed(554, "5.7.1", $"{hostName} Protocol error: talked before greeting");
        ShuttingDownRefused = SmtpReply.Fixed(421, "4.3.2", $"{hostName} Service shutting down, try again later");
    }

    public static SmtpHostReplies For(string hostName)
    {
        var last = s_last;
        if (last is not null && string.Equals(last.HostName, hostName, StringComparison.Ordinal)) return last;
        return s_last = new SmtpHostReplies(hostName);
    }

    public string HostName { get; }

    /// <summary>RFC 2034 section 3: the greeting carries no enhanced code.</summary>
    public SmtpReply Greeting { get; }

    /// <summary>Postscreen's multi-line greeting: "220-" first, the <see cref="Greeting"/> after the pregreet wait.</summary>
    public SmtpReply GreetingBanner { get; }

    public SmtpReply Bye { get; }
    public SmtpReply ShuttingDown { get; }
    public SmtpReply Timeout { get; }
    public SmtpReply TooManyErrors { get; }
    public SmtpReply TooManyCommandsWithoutMail { get; }
    public SmtpReply LocalError { get; }

    /// <summary>A BDAT without a valid size: chunk data cannot be told from commands any more.</summary>
    public SmtpReply BdatFramingLost { get; }

    /// <summary>Postscreen's PREGREET: the client talked before the greeting.</summary>
    public SmtpReply Pregreet { get; }

    /// <summary>Instead of the greeting: over Smtp:RateLimits, or (from the server, before any session) over the connection limits.</summary>
    public SmtpReply ConnectionRefused(string reason) => new(421, "4.7.0", $"{HostName} {reason}, try again later");

    /// <summary>Instead of the greeting, to a client that connects while the server stops.</summary>
    public SmtpReply ShuttingDownRefused { get; }

    /// <summary>The first line of the HELO/EHLO reply (RFC 5321 4.1.1.1: domain and greeting).</summary>
    public SmtpReply Hello(string clientName, System.Net.IPAddress client, bool continues) => new(250, null, $"{HostName} Hello {clientName} [{client}]", continues);
}
