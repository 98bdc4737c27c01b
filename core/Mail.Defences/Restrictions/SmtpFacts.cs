using System.Net;
using Mail.Core.SmtpPolicy;

namespace Mail.Defences.Restrictions;

/// <summary>The SMTP stages that have a restriction list (Postfix smtpd_*_restrictions).</summary>
public enum SmtpStage
{
    Client,     // smtpd_client_restrictions
    Helo,       // smtpd_helo_restrictions
    Sender,     // smtpd_sender_restrictions
    Relay,      // smtpd_relay_restrictions
    Recipient,  // smtpd_recipient_restrictions
    Data,       // smtpd_data_restrictions
    EndOfData,  // smtpd_end_of_data_restrictions
}

/// <summary>
/// What the server knows about the client at the moment a list is evaluated: protocol-free, so the restrictions
/// can be tested without a socket and used by any edge. A fact that is null is not known yet, and restrictions
/// that need it answer DUNNO (as Postfix does when, e.g., sender restrictions run before MAIL FROM).
/// </summary>
public sealed class SmtpFacts
{
    public required IPAddress ClientAddress { get; init; }

    /// <summary>FCrDNS result when the edge already has it; otherwise computed on demand by restrictions that need it.</summary>
    public ClientHostnameResult? ClientHostname { get; set; }

    public string? Helo { get; set; }

    /// <summary>Reverse-path without brackets; "" for the null sender &lt;&gt;; null before MAIL FROM.</summary>
    public string? MailFrom { get; set; }

    /// <summary>The recipient being decided (RCPT TO), without brackets.</summary>
    public string? RcptTo { get; set; }

    /// <summary>Recipients accepted so far in this transaction.</summary>
    public int RecipientCount { get; set; }

    public string? SaslUsername { get; set; }

    /// <summary>SPF result for MAIL FROM when the edge ran SPF ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror").</summary>
    public string? SpfResult { get; set; }

    /// <summary>The domain SPF evaluated (MAIL FROM domain, or HELO for the null sender).</summary>
    public string? SpfDomain { get; set; }

    /// <summary>The client sent this command before the server's previous reply where that is not allowed (RFC 2920).
    /// Read live through <see cref="PipelinedNow"/> when set, so "sleep N, reject_unauth_pipelining" sees what the client
    /// sent during the sleep.</summary>
    public bool Pipelined
    {
        get => _pipelined || (PipelinedNow?.Invoke() ?? false);
        set => _pipelined = value;
    }

    private bool _pipelined;

    /// <summary>The SMTP session's own improper-pipelining flag, asked each time a restriction needs it.</summary>
    public Func<bool>? PipelinedNow { get; set; }

    /// <summary>"SMTP" or "ESMTP" (policy protocol protocol_name).</summary>
    public string ProtocolName { get; set; } = "ESMTP";

    /// <summary>Message size from MAIL FROM SIZE= or, at end of data, the real size.</summary>
    public long? Size { get; set; }

    public string? QueueId { get; set; }

    /// <summary>Identifies one transaction across its RCPT commands (policy protocol "instance", used by policy greylisting).</summary>
    /// <remarks>Made on first use only when the caller sets none: a Guid costs a read of the kernel's random pool, and
    /// the edge sets its own for every policy check.</remarks>
    public string Instance
    {
        get => _instance ??= Guid.NewGuid().ToString("N")[..12];
        set => _instance = value;
    }

    private string? _instance;

    /// <summary>Whether the TLS layer is active (policy "encryption_protocol" and friends are left out).</summary>
    public bool Tls { get; set; }
}
