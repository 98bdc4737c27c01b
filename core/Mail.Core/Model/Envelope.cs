using System.Text.Json.Serialization;

namespace Mail.Core.Model;

/// <summary>
/// The SMTP envelope of one accepted message: everything the edge learned during the
/// dialogue, and a reference to the raw message in the message store (claim-check).
/// This is what travels through the queues; it stays small whatever the message size.
/// </summary>
public sealed record Envelope : IJsonOnDeserialized
{
    /// <summary>The envelope wire format this build writes. 1: no per-recipient delivery state (before the outbound
    /// stage), no version field; 2: <see cref="Recipient.Delivery"/> and <see cref="Held"/>; 3: the edge's decisions in
    /// <see cref="Decisions"/> instead of "policy.*" strings in <see cref="ConnectionResults"/>. A reader accepts any
    /// version up to this one (older ones are upgraded as they are read, see <see cref="IJsonOnDeserialized.OnDeserialized"/>)
    /// and refuses a newer one (<see cref="EnvelopeFormatException"/>): a newer build's fields would be lost silently.</summary>
    public const int CurrentFormatVersion = 3;

    private int _formatVersion = CurrentFormatVersion;
    private bool _formatVersionGiven;

    /// <summary>Format version of the record this envelope was read from (1 for a record without the field); the current
    /// version for an envelope built in memory, or read from an older record whose edge decisions were upgraded.</summary>
    public int FormatVersion
    {
        get => _formatVersion;
        init
        {
            _formatVersion = value;
            _formatVersionGiven = true;
        }
    }

    /// <summary>Queue id given to the client in "250 2.0.0 Ok: queued as ID"; also the idempotency key.</summary>
    public required string QueueId { get; init; }

    /// <summary>Id of the raw RFC 5322 message in the message store.</summary>
    public required string MessageRef { get; init; }

    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>Size of the stored message in octets (after the edge's Received: header).</summary>
    public long Size { get; init; }

    /// <summary>Connection facts: client address, reverse name, HELO, TLS.</summary>
    public required ClientInfo Client { get; init; }

    /// <summary>MAIL FROM reverse-path without angle brackets; empty for the null reverse-path &lt;&gt;.</summary>
    public required string MailFrom { get; init; }

    public MailFromParameters MailFromParameters { get; init; } = new();

    public required IReadOnlyList<Recipient> Recipients { get; init; }

    /// <summary>SASL identity when the message came through authenticated submission.</summary>
    public string? AuthenticatedUser { get; init; }

    private IReadOnlyDictionary<string, string> _connectionResults = new Dictionary<string, string>();
    private EdgeDecisions? _decisions;

    /// <summary>Results of checks that ran during the SMTP dialogue (e.g. "spf" =&gt; "pass", "fcrdns" =&gt; "fail").</summary>
    public IReadOnlyDictionary<string, string> ConnectionResults { get => _connectionResults; init => _connectionResults = value; }

    /// <summary>What the edge's restrictions decided for this message and left to the pipeline (HOLD, DISCARD, PREPEND,
    /// REDIRECT, FILTER); null when they decided nothing.</summary>
    public EdgeDecisions? Decisions { get => _decisions; init => _decisions = value; }

    /// <summary>W3C traceparent started at the edge, continued by the pipeline.</summary>
    public string? TraceParent { get; init; }

    /// <summary>How many times a pipeline stage has already tried this envelope (retries, outbound backoff).</summary>
    public int Attempt { get; init; }

    /// <summary>Put on hold by an operator (`mail queue hold`): the outbound stage does not try it until released.</summary>
    public bool Held { get; init; }

    public bool IsNullSender => MailFrom.Length == 0;

    /// <summary>
    /// Upgrades a record of an older format as it is read, whichever reader read it (queue message, spool journal, dead
    /// letter): a record without the version field is version 1, and versions 1 and 2 kept the edge's decisions as
    /// "policy.*" connection results, which move to <see cref="Decisions"/>. An upgraded envelope says the current
    /// version, so that writing it back never hands an older build a record whose decisions it would not see.
    /// </summary>
    void IJsonOnDeserialized.OnDeserialized()
    {
        // The source-generated reader hands a missing init-only field in as 0; another reader may not set it at all.
        if (!_formatVersionGiven || _formatVersion == 0) _formatVersion = 1;
        if (_formatVersion >= 3 || _connectionResults is null) return;
        var (decisions, rest) = EdgeDecisions.FromVersion2Results(_connectionResults);
        if (decisions is null) return;
        _decisions = decisions;
        _connectionResults = rest;
        _formatVersion = CurrentFormatVersion;
    }

    /// <summary>Throws <see cref="EnvelopeFormatException"/> when this envelope was read from a newer format than this build knows.</summary>
    public Envelope EnsureReadable(string source) =>
        FormatVersion > CurrentFormatVersion
            ? throw new EnvelopeFormatException($"{source}: envelope {QueueId} has format version {FormatVersion}; this build reads versions up to {CurrentFormatVersion}. Run the newer build that wrote it (or a later one).")
            : this;
}

/// <summary>An envelope record written by a newer build: refusing it is safer than dropping fields this build does not know.</summary>
public sealed class EnvelopeFormatException(string message) : Exception(message);

public sealed record ClientInfo
{
    public required string Address { get; init; }
    public int Port { get; init; }
    /// <summary>Verified reverse DNS name, or null when unknown.</summary>
    public string? ReverseName { get; init; }
    public required string Helo { get; init; }
    /// <summary>"SMTP", "ESMTP", "ESMTPS", "ESMTPSA", ... (RFC 3848 with-protocol).</summary>
    public string Protocol { get; init; } = "ESMTP";
    public TlsInfo? Tls { get; init; }
    /// <summary>Name of the listener that accepted the connection ("mx", "submission", "submissions").</summary>
    public string Listener { get; init; } = "mx";
}

public sealed record TlsInfo(string Protocol, string Cipher, int? CipherBits = null);

/// <summary>MAIL FROM parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 RET/ENVID).</summary>
public sealed record MailFromParameters
{
    public long? Size { get; init; }
    /// <summary>BODY=7BIT or 8BITMIME; null when not given.</summary>
    [JsonConverter(typeof(SmtpKeywordJsonConverter.Body))]
    public BodyType? Body { get; init; }
    public bool SmtpUtf8 { get; init; }
    /// <summary>DSN RET=FULL or RET=HDRS; null when not given.</summary>
    [JsonConverter(typeof(SmtpKeywordJsonConverter.Ret))]
    public DsnRet? Ret { get; init; }
    /// <summary>DSN ENVID (xtext-decoded).</summary>
    public string? EnvId { get; init; }
}

/// <summary>One RCPT TO with its RFC 3461 DSN parameters.</summary>
public sealed record Recipient
{
    /// <summary>Forward-path without angle brackets.</summary>
    public required string Address { get; init; }
    /// <summary>DSN NOTIFY: NEVER, or a combination of SUCCESS, FAILURE, DELAY; null when not given.</summary>
    [JsonConverter(typeof(SmtpKeywordJsonConverter.Notify))]
    public DsnNotify? Notify { get; init; }
    /// <summary>DSN ORCPT as given (addr-type;xtext-decoded address).</summary>
    public string? ORcpt { get; init; }

    /// <summary>Outbound delivery state of this recipient; null until the outbound stage first tries it (pending).</summary>
    public RecipientDelivery? Delivery { get; init; }

    public RecipientStatus Status => Delivery?.Status ?? RecipientStatus.Pending;
}

/// <summary>Where one remote recipient stands (Postfix qmgr: active/deferred/hold; Stalwart: per-recipient status).</summary>
public enum RecipientStatus
{
    Pending,
    /// <summary>A temporary failure (4xx, no connection, DNS trouble): tried again at <see cref="RecipientDelivery.NextAttemptAt"/>.</summary>
    Deferred,
    /// <summary>Accepted by the remote server (2xx after DATA). Final.</summary>
    Sent,
    /// <summary>Permanently refused (5xx) or expired. Final; a DSN went to the sender unless they asked for none.</summary>
    Bounced,
    /// <summary>On hold by an operator.</summary>
    Held,
}

public static class RecipientStatusExtensions
{
    /// <summary>Sent or bounced: nothing more will be tried for this recipient.</summary>
    public static bool IsFinal(this RecipientStatus s) => s is RecipientStatus.Sent or RecipientStatus.Bounced;
}

/// <param name="Attempts">Delivery attempts made so far.</param>
/// <param name="NextAttemptAt">When a deferred recipient is due again.</param>
/// <param name="ExpiresAt">After this a still-deferred recipient bounces (Postfix maximal_queue_lifetime).</param>
/// <param name="LastReply">The last reply from a remote server, or our own reason when none answered.</param>
/// <param name="DelayNotified">A "delayed" DSN was sent for this recipient (at most one).</param>
public sealed record RecipientDelivery(RecipientStatus Status, int Attempts, DateTimeOffset? NextAttemptAt, DateTimeOffset ExpiresAt, RemoteReply? LastReply, bool DelayNotified = false)
{
    public bool IsFinal => Status.IsFinal();
}

/// <summary>An SMTP reply as the delivery log and DSNs report it.</summary>
/// <param name="Code">Basic reply code (RFC 5321), e.g. 250, 450, 550; 0 when no server answered.</param>
/// <param name="EnhancedCode">RFC 3463 status, e.g. "5.1.1".</param>
/// <param name="Host">Remote host name, when one was reached.</param>
/// <param name="Address">Remote address and port, "192.0.2.1:25".</param>
public sealed record RemoteReply(int Code, string EnhancedCode, string Text, string? Host = null, string? Address = null);
