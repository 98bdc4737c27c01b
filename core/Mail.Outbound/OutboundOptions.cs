using System.Globalization;

namespace Mail.Outbound;

/// <summary>TLS policy toward one destination (Postfix smtp_tls_security_level).</summary>
public enum TlsPolicy
{
    /// <summary>Never STARTTLS.</summary>
    None,
    /// <summary>STARTTLS when offered, any certificate; plaintext when not offered or the handshake fails (opportunistic).</summary>
    May,
    /// <summary>STARTTLS required (any certificate); a server without it defers the mail.</summary>
    Encrypt,
    /// <summary>DANE (RFC 7672): an MX host with DNSSEC-validated TLSA records gets mandatory STARTTLS and a certificate that
    /// must match them (else the mail is deferred with 4.7.5, never sent in plaintext); a host without them gets the
    /// <see cref="MtaSts"/> behaviour. Not applied to the relay host or transport-map next hops without MX lookup.</summary>
    Dane,
    /// <summary>The recipient domain's MTA-STS policy (RFC 8461) when it publishes one, else as <see cref="May"/>: in
    /// "enforce" mode only the MX hosts the policy names, over STARTTLS with a certificate valid for the MX name.</summary>
    MtaSts,
}

/// <summary>
/// Settings of the outbound stage (configuration section "Outbound"). Names and defaults follow Postfix's main.cf
/// (minimal_backoff_time, maximal_backoff_time, maximal_queue_lifetime, default_destination_concurrency_limit,
/// relayhost, transport_maps, smtp_tls_security_level).
/// </summary>
public sealed class OutboundOptions
{
    public const string SectionName = "Outbound";

    /// <summary>Port used for delivery to MX hosts (25; tests and labs deliver to peers on loopback ports).</summary>
    public int RemotePort { get; set; } = 25;

    /// <summary>Postfix relayhost: "[host]:port" (no MX lookup) or "host:port" (MX lookup of host). Empty: deliver by MX.
    /// With a relay host everything goes through it, with STARTTLS required and AUTH when <see cref="RelayUser"/> is set.</summary>
    public string? RelayHost { get; set; }

    public string? RelayUser { get; set; }

    public string? RelayPassword { get; set; }

    /// <summary>Accept any certificate from the relay host (a lab's self-signed one). Off: the certificate must be valid for its name.</summary>
    public bool RelayTlsAcceptAnyCertificate { get; set; }

    /// <summary>Postfix transport_maps: recipient domain → "[host]:port" or "host:port", overriding MX delivery for that domain.</summary>
    public Dictionary<string, string> Transports { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Default TLS policy for MX delivery: None, May, Encrypt, Dane (default: DANE where the MX publishes
    /// validated TLSA, else the domain's MTA-STS policy, else opportunistic) or MtaSts.</summary>
    public TlsPolicy TlsPolicy { get; set; } = TlsPolicy.Dane;

    /// <summary>Per-domain TLS policy override (smtp_tls_policy_maps): domain → None, May, Encrypt, Dane or MtaSts.</summary>
    public Dictionary<string, TlsPolicy> TlsPolicies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>PEM file of extra trust roots (added to the system's) for the certificates that are verified: MTA-STS
    /// policy servers and the MX hosts of an MTA-STS domain in enforce mode. Empty: the system roots only.</summary>
    public string? TlsCaFile { get; set; }

    /// <summary>TLS-RPT (RFC 8460): session results of MTA-STS and DANE deliveries and the daily reports ("Outbound:TlsReporting").</summary>
    public Tls.Reporting.TlsReportingOptions TlsReporting { get; set; } = new();

    /// <summary>MTA-STS (RFC 8461) policy fetching ("Outbound:MtaSts").</summary>
    public MtaStsOptions MtaSts { get; set; } = new();

    /// <summary>First retry after this (minimal_backoff_time, 300 s); doubles per attempt.</summary>
    public TimeSpan MinimalBackoff { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Longest wait between attempts (maximal_backoff_time, 4000 s).</summary>
    public TimeSpan MaximalBackoff { get; set; } = TimeSpan.FromSeconds(4000);

    /// <summary>A recipient still deferred after this long bounces (maximal_queue_lifetime, 5 days).</summary>
    public TimeSpan MaximalQueueLifetime { get; set; } = TimeSpan.FromDays(5);

    /// <summary>Send a "delayed" DSN once a recipient has waited this long (delay_warning_time; zero, the default, sends none).</summary>
    public TimeSpan DelayWarningTime { get; set; } = TimeSpan.Zero;

    /// <summary>Connections at the same time to one destination domain (default_destination_concurrency_limit, 20).</summary>
    public int DestinationConcurrency { get; set; } = 20;

    /// <summary>Envelopes the embedded outbound worker delivers at the same time.</summary>
    public int Concurrency { get; set; } = 20;

    /// <summary>MX hosts tried before a recipient is deferred (smtp_mx_address_limit counts addresses; Postfix tries 5 sessions).</summary>
    public int MaxMxHosts { get; set; } = 5;

    /// <summary>Addresses tried per MX host.</summary>
    public int MaxAddressesPerHost { get; set; } = 2;

    /// <summary>TCP connect timeout (smtp_connect_timeout, 30 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Per-stage limits of the SMTP conversation (RFC 5321 4.5.3.2; section "Outbound:Timeouts").</summary>
    public OutboundTimeouts Timeouts { get; set; } = new();

    /// <summary>How long an idle connection is kept for the next message to the same host.</summary>
    public TimeSpan ConnectionReuseTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>More Received: header fields than this and the message bounces as a mail loop (hopcount_limit, 50).</summary>
    public int HopCountLimit { get; set; } = 50;

    /// <summary>Longest wait of an idle worker before it looks at the outbound queue again. The embedded spool wakes it
    /// as soon as an envelope is queued or comes due, so this is only a fallback there; cloud queues are polled.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Throws naming the setting when a value cannot work.</summary>
    public void Validate()
    {
        if (RemotePort is < 1 or > 65535) throw new ArgumentException($"Outbound:RemotePort must be 1-65535 (got {RemotePort})");
        if (!string.IsNullOrWhiteSpace(RelayHost)) _ = NextHop.Parse(RelayHost, 25, "Outbound:RelayHost");
        foreach (var (domain, hop) in Transports) _ = NextHop.Parse(hop, RemotePort, $"Outbound:Transports:{domain}");
        if (MinimalBackoff <= TimeSpan.Zero || MaximalBackoff < MinimalBackoff)
            throw new ArgumentException("Outbound:MinimalBackoff must be positive and not above Outbound:MaximalBackoff");
        if (MaximalQueueLifetime <= TimeSpan.Zero) throw new ArgumentException("Outbound:MaximalQueueLifetime must be positive");
        if (DelayWarningTime < TimeSpan.Zero) throw new ArgumentException("Outbound:DelayWarningTime must not be negative");
        if (DestinationConcurrency < 1) throw new ArgumentException("Outbound:DestinationConcurrency must be at least 1");
        if (Concurrency < 1) throw new ArgumentException("Outbound:Concurrency must be at least 1");
        if (MaxMxHosts < 1 || MaxAddressesPerHost < 1) throw new ArgumentException("Outbound:MaxMxHosts and Outbound:MaxAddressesPerHost must be at least 1");
        if (ConnectTimeout <= TimeSpan.Zero) throw new ArgumentException($"Outbound:ConnectTimeout must be positive (got {ConnectTimeout})");
        Timeouts.Validate();
        if (HopCountLimit < 1) throw new ArgumentException("Outbound:HopCountLimit must be at least 1");
        if (PollInterval <= TimeSpan.Zero) throw new ArgumentException("Outbound:PollInterval must be positive");
        if (MtaSts.PolicyPort is < 1 or > 65535) throw new ArgumentException($"Outbound:MtaSts:PolicyPort must be 1-65535 (got {MtaSts.PolicyPort})");
        if (MtaSts.FetchTimeout <= TimeSpan.Zero) throw new ArgumentException("Outbound:MtaSts:FetchTimeout must be positive");
        if (TlsReporting.PostTimeout <= TimeSpan.Zero) throw new ArgumentException($"Outbound:TlsReporting:PostTimeout must be positive (got {TlsReporting.PostTimeout})");
        if (TlsReporting.CheckInterval <= TimeSpan.Zero) throw new ArgumentException($"Outbound:TlsReporting:CheckInterval must be positive (got {TlsReporting.CheckInterval})");
        _ = Tls.MtaSts.TrustRoots.Load(TlsCaFile);
    }

    /// <summary>MinimalBackoff × 2^(attempts-1), capped at MaximalBackoff (Postfix's doubling backoff).</summary>
    public TimeSpan Backoff(int attempts)
    {
        var factor = Math.Pow(2, Math.Clamp(attempts - 1, 0, 30));
        return TimeSpan.FromMilliseconds(Math.Min(MinimalBackoff.TotalMilliseconds * factor, MaximalBackoff.TotalMilliseconds));
    }

    public TlsPolicy TlsPolicyFor(string domain) => TlsPolicies.TryGetValue(domain, out var p) ? p : TlsPolicy;
}

/// <summary>Settings of MTA-STS policy fetching (section "Outbound:MtaSts").</summary>
public sealed class MtaStsOptions
{
    /// <summary>Port of https://mta-sts.DOMAIN/ (443; tests and labs serve policies on a loopback port).</summary>
    public int PolicyPort { get; set; } = 443;

    /// <summary>Whole policy fetch, connect to last byte (RFC 8461 3.3 asks for a timeout; 60 s).</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>A configured next hop: "[host]:port" (this host, no MX lookup) or "host:port" (MX lookup of host, then its A/AAAA).</summary>
public sealed record NextHop(string Host, int Port, bool LookupMx)
{
    public static NextHop Parse(string text, int defaultPort, string setting)
    {
        var t = text.Trim();
        if (t.StartsWith("smtp:", StringComparison.OrdinalIgnoreCase)) t = t[5..];
        string host;
        var port = defaultPort;
        var lookupMx = true;
        string rest;
        if (t.StartsWith('['))
        {
            var close = t.IndexOf(']', StringComparison.Ordinal);
            if (close < 2) throw new ArgumentException($"{setting}: '{text}' is not [host]:port or host:port");
            host = t[1..close];
            rest = t[(close + 1)..];
            lookupMx = false;
        }
        else
        {
            var colon = t.LastIndexOf(':');
            host = colon < 0 ? t : t[..colon];
            rest = colon < 0 ? "" : t[colon..];
        }
        if (rest.Length > 0)
        {
            if (rest[0] != ':' || !int.TryParse(rest.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                throw new ArgumentException($"{setting}: '{text}' has no valid port (expected [host]:port or host:port)");
        }
        if (host.Length == 0 || host.Any(char.IsWhiteSpace)) throw new ArgumentException($"{setting}: '{text}' names no host");
        return new NextHop(host, port, lookupMx);
    }

    public override string ToString() => LookupMx ? $"{Host}:{Port}" : $"[{Host}]:{Port}";
}
