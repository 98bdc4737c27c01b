using Mail.Core.Model;

namespace Mail.Admin;

/// <summary>One user as the console and `mail user list` show it. <paramref name="QuotaLimit"/> is null when unlimited.</summary>
public sealed record UserInfo(string Address, bool Admin, long? QuotaLimit, long? QuotaUsed);

/// <summary>One of a user's Sieve scripts; <paramref name="Active"/>: the one delivery runs.</summary>
public sealed record SieveScriptInfo(string Name, bool Active);

/// <param name="Limit">Octets; null: no limit.</param>
public sealed record QuotaInfo(string User, long? Limit, long Used);

/// <summary>One envelope in the inbound or outbound queue, with each recipient's state (Postfix's mailq line).</summary>
public sealed record QueueItem(string Queue, string QueueId, string State, DateTimeOffset? VisibleAt, int Tries, string MailFrom,
    IReadOnlyList<QueueRecipient> Recipients, string? DeadLetterReason, DateTimeOffset ReceivedAt, string ClientHelo, string ClientAddress,
    string? AuthenticatedUser, long Size, string MessageRef);

/// <param name="Status">pending, deferred, delivered, bounced... (<see cref="RecipientStatus"/> in lower case).</param>
/// <param name="LastReply">The remote server's last reply as one line, or null before the first attempt.</param>
public sealed record QueueRecipient(string Address, string Status, int Attempts, DateTimeOffset? NextAttemptAt, DateTimeOffset? ExpiresAt, string? LastReply, string? LastReplyHost);

/// <summary>The headers a listing shows of a stored message.</summary>
public sealed record MessageSummary(string From, string Subject, string MessageId);

/// <summary>A held message in a listing.</summary>
public sealed record QuarantineItem(string QueueId, DateTimeOffset Date, string MailFrom, IReadOnlyList<string> Recipients, string Reason, string From, string Subject);

/// <summary>What a quarantine preview shows: the header fields as text, the plain text part, and the HTML part only as
/// its source text (never to be rendered), with the attachments' names. Parts are cut at <see cref="AdminService.PreviewLimit"/>.</summary>
public sealed record MessagePreview(string QueueId, string Reason, IReadOnlyList<HeaderField> Headers, string? Text, string? HtmlSource,
    IReadOnlyList<string> Attachments, bool Truncated);

public sealed record HeaderField(string Name, string Value);

/// <summary>A DKIM key as listed: the TXT record to publish, and whether it still must be.</summary>
public sealed record DkimKeyInfo(string Domain, string Selector, string Algorithm, bool Active, bool Published, DateTimeOffset Created,
    DateTimeOffset? Retired, DateTimeOffset? PublishedUntil, string DnsName, string DnsRecord, string ZoneFileLine);

/// <summary>One message's steps (`mail trace`, the console's trace page): what the stages recorded, oldest first, and
/// where the message is now: <paramref name="Queued"/> its envelopes still in a queue, <paramref name="Quarantined"/>
/// the reason when it is held. <paramref name="V"/> is the format version.</summary>
public sealed record MessageTrace(string QueueId, DateTimeOffset ReceivedAt, string MailFrom, IReadOnlyList<string> Recipients,
    IReadOnlyList<MessageTraceStep> Steps, IReadOnlyList<QueueItem> Queued, string? Quarantined, int V = 1);

/// <param name="Step">received, check, verdict, delivered, not-delivered, quarantined, released, deleted, queued-outbound, attempt, notice.</param>
/// <param name="Recipient">The recipient the step is about, or null for the whole message.</param>
public sealed record MessageTraceStep(DateTimeOffset At, string Step, string Text, string? Recipient);

/// <summary>An alias after a change: its targets now (null when it was removed), and a warning for the operator (a loop).</summary>
public sealed record AliasChange(string Alias, IReadOnlyList<string>? Targets, string? Warning);

/// <summary>What a DKIM rotation did: the new keys (publish them) and the retired ones (keep them published until their date).</summary>
public sealed record DkimRotation(IReadOnlyList<DkimKeyInfo> Created, IReadOnlyList<DkimKeyInfo> Retired);
