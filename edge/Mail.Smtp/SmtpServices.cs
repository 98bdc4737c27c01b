using Mail.Core.Accounts;
using Mail.Core.Ports;

namespace Mail.Smtp;

/// <summary>The ports the edge talks to: where messages and envelopes go, who our users are, the clock, and an optional policy.</summary>
public sealed class SmtpServices
{
    public required IMessageStore MessageStore { get; init; }

    /// <summary>The "inbound" queue; an envelope is sent here before the client hears 250.</summary>
    public required IMessageQueue InboundQueue { get; init; }

    public required MailDirectory Directory { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>For the forward-confirmed reverse DNS check at connect; null skips it (no ReverseName, no "fcrdns" result).</summary>
    public IDnsResolver? Dns { get; init; }

    /// <summary>Where the rate limit counters live (shared by all edge instances); null disables Smtp:RateLimits.</summary>
    public IStateStore? State { get; init; }

    /// <summary>SPF (RFC 7208) of the MAIL FROM identity, run at MAIL FROM for unauthenticated clients outside Smtp:MyNetworks, before the policy's
    /// OnMailFrom hook; the result is recorded as "spf" (result name) and "spf.domain" in the session's connection results
    /// and thus in the envelope (for reject_spf_fail and the pipeline). Null: no SPF at the edge.</summary>
    public Mail.Spf.SpfChecker? Spf { get; init; }

    /// <summary>Users' storage quotas: a local recipient whose mailbox is full, or has no room for the message, is refused
    /// at RCPT or at the end of data, never bounced later. Null: no quota checks at the edge.</summary>
    public UserQuotas? Quotas { get; init; }

    /// <summary>In-flow control (Smtp:InFlowDelay, Smtp:InFlowBacklog): a transaction waits before its first recipient's
    /// reply while the worker in the same process is behind. Null (edge-only and cloud hostings, or the delay 0): never.</summary>
    public Mail.Core.Queues.InFlowControl? InFlow { get; init; }

    /// <summary>Connection-stage restrictions (greylisting, DNSBL, ...); null means none.</summary>
    public ISmtpSessionPolicy? Policy { get; init; }
}
