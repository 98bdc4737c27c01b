using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Core.SmtpPolicy;

/// <summary>
/// The seam for connection-stage restrictions (Postfix's smtpd_*_restrictions): each hook runs before
/// the server's own handling of that stage and may let it continue, accept, or answer with its own reply.
/// Hooks run on the session's task, one at a time; they must not keep <paramref name="facts"/> beyond the call.
/// </summary>
public interface ISmtpSessionPolicy
{
    /// <summary>Before the greeting. A reject replaces the 220 greeting (use 421 or 554) and closes the connection.</summary>
    ValueTask<SmtpPolicyResult> OnConnectAsync(SmtpSessionFacts facts, CancellationToken cancellationToken);

    /// <summary>At HELO/EHLO; <see cref="SmtpSessionFacts.Helo"/> already holds the new name.</summary>
    ValueTask<SmtpPolicyResult> OnHeloAsync(SmtpSessionFacts facts, CancellationToken cancellationToken);

    /// <summary>At MAIL, after syntax checks; <see cref="SmtpSessionFacts.MailFrom"/> holds the reverse-path.</summary>
    ValueTask<SmtpPolicyResult> OnMailFromAsync(SmtpSessionFacts facts, CancellationToken cancellationToken);

    /// <summary>At RCPT, after syntax checks and before relay control. Accept skips relay control for this recipient.</summary>
    ValueTask<SmtpPolicyResult> OnRcptToAsync(SmtpSessionFacts facts, Recipient recipient, CancellationToken cancellationToken);

    /// <summary>At DATA or the first BDAT, before any message data is read.</summary>
    ValueTask<SmtpPolicyResult> OnDataAsync(SmtpSessionFacts facts, CancellationToken cancellationToken);

    /// <summary>After the message is stored (committed) but before it is queued; a reject deletes it again.</summary>
    ValueTask<SmtpPolicyResult> OnEndOfDataAsync(SmtpSessionFacts facts, StoredMessage message, CancellationToken cancellationToken);
}

public enum SmtpPolicyAction
{
    /// <summary>No opinion: the server applies its own checks and replies.</summary>
    Continue,
    /// <summary>Accept at this stage (e.g. permit_mynetworks), skipping the server's own refusal checks for it.</summary>
    Accept,
    /// <summary>Refuse with the given 4xx/5xx reply. A 421 reply also closes the connection.</summary>
    Reject,
}

/// <summary>The answer of a policy hook.</summary>
public readonly record struct SmtpPolicyResult(SmtpPolicyAction Action, int Code, string EnhancedCode, string Text)
{
    public static SmtpPolicyResult Continue { get; } = new(SmtpPolicyAction.Continue, 0, "", "");

    /// <summary>
    /// With Continue or Accept: facts to record with the message, copied into <see cref="Envelope.ConnectionResults"/>
    /// (e.g. the weighted DNSBL score). From OnConnect/OnHelo they apply to every message of the session; from the other
    /// hooks to the current transaction only (from OnRcptTo only when the recipient is accepted). Later values replace
    /// earlier ones under the same key.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Results { get; init; }

    /// <summary>
    /// With Continue or Accept: what the message is to undergo in the pipeline (Postfix access actions HOLD, DISCARD,
    /// PREPEND, REDIRECT, FILTER), carried by <see cref="Envelope.Decisions"/>. Same scope as <see cref="Results"/>;
    /// decisions of later hooks follow earlier ones (<see cref="EdgeDecisions.Then"/>).
    /// </summary>
    public EdgeDecisions? Decisions { get; init; }

    /// <summary>Accept with the server's normal success reply.</summary>
    public static SmtpPolicyResult Accept { get; } = new(SmtpPolicyAction.Accept, 0, "", "");

    /// <param name="code">400-599.</param>
    /// <param name="enhancedCode">RFC 3463 code, e.g. "5.7.1".</param>
    public static SmtpPolicyResult Reject(int code, string enhancedCode, string text)
    {
        if (code is < 400 or > 599) throw new ArgumentOutOfRangeException(nameof(code), code, "A reject needs a 4xx or 5xx reply code.");
        return new(SmtpPolicyAction.Reject, code, enhancedCode, text);
    }
}

/// <summary>Read-only view of what the session knows so far.
/// The SMTP server (edge/Mail.Smtp, a friend assembly of Mail.Core for this alone) is the one writer: the setters are
/// internal so that a policy can read the facts but never change them.
/// </summary>
public sealed class SmtpSessionFacts
{
    /// <summary>The SMTP server builds one per session; unit tests of policies build facts as a session would have them at some stage.</summary>
    public SmtpSessionFacts(string sessionId, System.Net.IPEndPoint clientEndPoint, System.Net.IPEndPoint localEndPoint, string listenerName,
        SmtpListenerRole listenerRole, string? helo = null, bool esmtp = false, TlsInfo? tls = null, string? mailFrom = null,
        MailFromParameters? mailFromParameters = null, IEnumerable<Recipient>? recipients = null, string? authenticatedUser = null,
        string? reverseName = null, bool inMyNetworks = false, IReadOnlyDictionary<string, string>? connectionResults = null, bool pipelined = false)
    {
        Pipelined = pipelined;
        AuthenticatedUser = authenticatedUser;
        ReverseName = reverseName;
        InMyNetworks = inMyNetworks;
        if (connectionResults is not null)
            foreach (var (k, v) in connectionResults) ConnectionResultMap[k] = v;
        SessionId = sessionId;
        ClientEndPoint = clientEndPoint;
        LocalEndPoint = localEndPoint;
        ListenerName = listenerName;
        ListenerRole = listenerRole;
        Helo = helo;
        Esmtp = esmtp;
        Tls = tls;
        MailFrom = mailFrom;
        MailFromParameters = mailFromParameters;
        if (recipients is not null) RecipientList.AddRange(recipients);
    }

    public string SessionId { get; }
    public System.Net.IPEndPoint ClientEndPoint { get; }
    public System.Net.IPEndPoint LocalEndPoint { get; }
    public string ListenerName { get; }
    public SmtpListenerRole ListenerRole { get; }

    /// <summary>Forward-confirmed reverse DNS name of the client, null when unknown or not confirmed.</summary>
    public string? ReverseName { get; internal set; }

    /// <summary>True when the client address is in Smtp:MyNetworks (it may relay).</summary>
    public bool InMyNetworks { get; internal set; }

    /// <summary>The SASL identity (canonical address) after a successful AUTH, else null.</summary>
    public string? AuthenticatedUser { get; internal set; }

    /// <summary>Checks done during the dialogue so far (e.g. "fcrdns" =&gt; "pass"); copied into the envelope.</summary>
    public IReadOnlyDictionary<string, string> ConnectionResults => ConnectionResultMap;

    internal Dictionary<string, string> ConnectionResultMap { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// True once the client sent a command ahead of time where that is not allowed (Postfix's per-session improper
    /// pipelining flag, for reject_unauth_pipelining): input was waiting after EHLO/HELO, DATA (message data before the
    /// 354), VRFY, EXPN, NOOP or STARTTLS, or after any command before an EHLO reply advertised PIPELINING, or the client
    /// talked before the greeting (plaintext listeners; seen live while the connect hook runs).
    /// </summary>
    public bool Pipelined
    {
        get => _pipelined || (TalkedBeforeGreeting?.Invoke() ?? false);
        internal set => _pipelined = value;
    }

    private bool _pipelined;

    /// <summary>Until the greeting is sent: whether the client has already sent something (it must wait for the 220,
    /// RFC 5321 3.1). Lets "sleep N, reject_unauth_pipelining" in the client list catch clients that talk first.</summary>
    internal Func<bool>? TalkedBeforeGreeting { get; set; }

    /// <summary>The HELO/EHLO argument, null before it.</summary>
    public string? Helo { get; internal set; }

    /// <summary>True after EHLO (ESMTP), false after HELO.</summary>
    public bool Esmtp { get; internal set; }

    /// <summary>TLS details once the connection is encrypted.</summary>
    public TlsInfo? Tls { get; internal set; }

    /// <summary>Reverse-path of the current transaction ("" for &lt;&gt;), null outside a transaction.</summary>
    public string? MailFrom { get; internal set; }

    public MailFromParameters? MailFromParameters { get; internal set; }

    /// <summary>Recipients accepted so far in this transaction.</summary>
    public IReadOnlyList<Recipient> Recipients => RecipientList;

    internal List<Recipient> RecipientList { get; } = [];
}

/// <summary>What a listener is for: MX takes mail for our domains from the Internet; Submission is for our users (587/465).</summary>
public enum SmtpListenerRole
{
    Mx,
    Submission,
}
