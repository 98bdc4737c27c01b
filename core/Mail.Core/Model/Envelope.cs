namespace Mail.Core.Model;

/// <summary>
/// The SMTP envelope of one accepted message: everything the edge learned during the
/// dialogue, and a reference to the raw message in the message store (claim-check).
/// This is what travels through the queues; it stays small whatever the message size.
/// </summary>
public sealed record Envelope
{
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

    /// <summary>Results of checks that ran during the SMTP dialogue (e.g. "spf" =&gt; "pass", "fcrdns" =&gt; "fail").</summary>
    public IReadOnlyDictionary<string, string> ConnectionResults { get; init; } = new Dictionary<string, string>();

    /// <summary>W3C traceparent started at the edge, continued by the pipeline.</summary>
    public string? TraceParent { get; init; }

    /// <summary>How many times a pipeline stage has already tried this envelope (retries, outbound backoff).</summary>
    public int Attempt { get; init; }

    public bool IsNullSender => MailFrom.Length == 0;
}

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
    /// <summary>7BIT, 8BITMIME or BINARYMIME.</summary>
    public string? Body { get; init; }
    public bool SmtpUtf8 { get; init; }
    /// <summary>DSN RET=FULL or RET=HDRS.</summary>
    public string? Ret { get; init; }
    /// <summary>DSN ENVID (xtext-decoded).</summary>
    public string? EnvId { get; init; }
}

/// <summary>One RCPT TO with its RFC 3461 DSN parameters.</summary>
public sealed record Recipient
{
    /// <summary>Forward-path without angle brackets.</summary>
    public required string Address { get; init; }
    /// <summary>DSN NOTIFY: NEVER, or a combination of SUCCESS, FAILURE, DELAY.</summary>
    public IReadOnlyList<string>? Notify { get; init; }
    /// <summary>DSN ORCPT as given (addr-type;xtext-decoded address).</summary>
    public string? ORcpt { get; init; }
}
