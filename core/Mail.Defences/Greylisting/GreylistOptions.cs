using System.Net;

namespace Mail.Defences.Greylisting;

/// <summary>Greylisting settings (RFC 6647). Defaults follow postgrey.</summary>
public sealed class GreylistOptions
{
    /// <summary>How long a new triplet is deferred before a retry is accepted.</summary>
    public TimeSpan Delay { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long after the first attempt a retry still counts; a later retry starts over.</summary>
    public TimeSpan RetryWindow { get; init; } = TimeSpan.FromDays(2);

    /// <summary>How long a triplet that passed stays known without being seen again (and an auto-whitelisted client).</summary>
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromDays(35);

    /// <summary>Clients (network or SPF domain) with this many successful deliveries through greylisting are not greylisted
    /// any more. 0 turns auto-whitelisting off.</summary>
    public int AutoWhitelistAfter { get; init; } = 5;

    /// <summary>IPv4 prefix length of the client network in the triplet.</summary>
    public int Ipv4PrefixLength { get; init; } = 24;

    /// <summary>IPv6 prefix length of the client network in the triplet.</summary>
    public int Ipv6PrefixLength { get; init; } = 64;

    /// <summary>Clients in these networks are never greylisted (e.g. 192.0.2.0/24, 2001:db8::/32).</summary>
    public IReadOnlyList<IPNetwork> WhitelistNetworks { get; init; } = [];

    /// <summary>Senders in these domains (or their subdomains) are never greylisted. Only trust this for domains whose SPF you
    /// also check, since the envelope sender is forgeable.</summary>
    public IReadOnlyList<string> WhitelistSenderDomains { get; init; } = [];

    /// <summary>Recipients in these domains, or these exact addresses (e.g. postmaster@example.com), are never greylisted.</summary>
    public IReadOnlyList<string> WhitelistRecipients { get; init; } = [];

    /// <summary>State store partitions.</summary>
    public string TripletPartition { get; init; } = "greylist";
    public string AutoWhitelistPartition { get; init; } = "greylist-awl";

    internal void Validate()
    {
        if (Delay < TimeSpan.Zero) throw new ArgumentException("Greylist Delay must not be negative.");
        if (RetryWindow <= Delay) throw new ArgumentException("Greylist RetryWindow must be longer than Delay.");
        if (Lifetime <= TimeSpan.Zero) throw new ArgumentException("Greylist Lifetime must be positive.");
        if (Ipv4PrefixLength is < 0 or > 32) throw new ArgumentException("Greylist Ipv4PrefixLength must be 0..32.");
        if (Ipv6PrefixLength is < 0 or > 128) throw new ArgumentException("Greylist Ipv6PrefixLength must be 0..128.");
        if (AutoWhitelistAfter < 0) throw new ArgumentException("Greylist AutoWhitelistAfter must not be negative.");
    }
}

public enum GreylistReason
{
    /// <summary>Client network, sender domain or recipient is whitelisted.</summary>
    Whitelisted,
    /// <summary>The client passed greylisting often enough.</summary>
    AutoWhitelisted,
    /// <summary>First attempt for this triplet (or the retry window was missed): deferred.</summary>
    New,
    /// <summary>Retried before the delay was over: still deferred.</summary>
    TooEarly,
    /// <summary>Retried after the delay, within the window: accepted.</summary>
    Retried,
    /// <summary>The triplet passed before and is still within its lifetime: accepted.</summary>
    Known,
}

/// <param name="Deferred">True: answer 450 (see <see cref="ReplyText"/>); false: go on.</param>
/// <param name="RetryAfter">For a deferral, how long until a retry will be accepted.</param>
/// <param name="Triplet">The state key used ("client/sender/recipient"), null when whitelisted.</param>
public sealed record GreylistDecision(bool Deferred, GreylistReason Reason, TimeSpan? RetryAfter, string? Triplet)
{
    /// <summary>Enhanced-status text for the 450 reply (RFC 6647 4.2 suggests 451/450 4.7.1).</summary>
    public string ReplyText => $"4.7.1 Greylisted, please try again in {(int)Math.Ceiling((RetryAfter ?? TimeSpan.Zero).TotalSeconds)} seconds";
}
