using Mail.Core.Listening;
using Microsoft.Extensions.Options;

namespace Mail.Smtp;

/// <summary>One listening socket (configuration section "Smtp:Listeners:N"): what every protocol's listener has (name,
/// endpoint, ImplicitTls for port 465, ProxyProtocol believing a proxy in <see cref="ListeningOptions{TListener}.ProxyNetworks"/>),
/// plus the SMTP role and the pregreet test. The name goes into the envelope too ("mx", "submission", "submissions").</summary>
public sealed class SmtpListenerOptions() : ListenerOptions("mx", "127.0.0.1:2525")
{
    public SmtpListenerRole Role { get; set; } = SmtpListenerRole.Mx;

    /// <summary>
    /// Postscreen-style pregreet test: wait this long before the 220 greeting; a client that talks first is a bot
    /// (RFC 5321 3.1: the client waits for the greeting) and gets 554 5.7.1 and a closed connection.
    /// Zero (default) greets at once. Clients in <see cref="SmtpServerOptions.MyNetworks"/> are never delayed.
    /// </summary>
    public TimeSpan PregreetDelay { get; set; }

    /// <summary>With <see cref="PregreetDelay"/>: send the first line of a multi-line greeting ("220-host ESMTP") before the wait,
    /// so bots that answer as soon as they see "220" are caught too (postscreen_greet_banner).</summary>
    public bool PregreetBanner { get; set; }
}

/// <summary>
/// Per-client and per-network rate limits (configuration section "Smtp:RateLimits"), counted in fixed windows in the
/// state store (so several edge instances share them). 0 turns a limit off; all are off by default.
/// Clients in <see cref="SmtpServerOptions.MyNetworks"/> are exempt (Postfix: smtpd_client_event_limit_exceptions).
/// </summary>
public sealed class SmtpRateLimitOptions
{
    /// <summary>Length of one counting window.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>New connections per window from one address; more get "421 4.7.0" at connect.</summary>
    public int ConnectionsPerClient { get; set; }

    /// <summary>MAIL commands per window from one address; more get "450 4.7.1".</summary>
    public int MessagesPerClient { get; set; }

    /// <summary>RCPT commands per window from one address; more get "450 4.7.1".</summary>
    public int RecipientsPerClient { get; set; }

    /// <summary>As <see cref="ConnectionsPerClient"/>, summed over the client's network (see the prefixes).</summary>
    public int ConnectionsPerNetwork { get; set; }

    public int MessagesPerNetwork { get; set; }

    public int RecipientsPerNetwork { get; set; }

    /// <summary>Size of "a network" for IPv4 clients (default /24).</summary>
    public int IPv4NetworkPrefix { get; set; } = 24;

    /// <summary>Size of "a network" for IPv6 clients (default /64).</summary>
    public int IPv6NetworkPrefix { get; set; } = 64;

    internal bool Any => ConnectionsPerClient > 0 || MessagesPerClient > 0 || RecipientsPerClient > 0
        || ConnectionsPerNetwork > 0 || MessagesPerNetwork > 0 || RecipientsPerNetwork > 0;
}

/// <summary>Settings of the SMTP edge (configuration section "Smtp"). What every listening server has (HostName,
/// Listeners, Certificate, MaxConnections, ProxyNetworks, ProxyTimeout) is in <see cref="ListeningOptions{TListener}"/>,
/// shared with IMAP, POP3 and ManageSieve; SMTP's defaults for those: 10 000 connections, a 5 s PROXY header timeout
/// (Postfix smtpd_upstream_proxy_timeout).</summary>
public sealed class SmtpServerOptions : ListeningOptions<SmtpListenerOptions>
{
    public const string SectionName = "Smtp";

    public SmtpServerOptions()
    {
        MaxConnections = 10_000;
        ProxyTimeout = TimeSpan.FromSeconds(5);
    }

    /// <summary>Largest message accepted, in octets (RFC 1870 SIZE). Enforced while reading.</summary>
    public long MaxMessageSize { get; set; } = 25 * 1024 * 1024;

    /// <summary>Recipients per message; the next RCPT gets 452 4.5.3.</summary>
    public int MaxRecipients { get; set; } = 100;

    /// <summary>Longest command line including CRLF (RFC 5321 4.5.3.1.4: 512). MAIL and RCPT get
    /// <see cref="ParameterLineAllowance"/> more for their extension parameters (RFC 1870, RFC 3461).</summary>
    public int MaxCommandLineLength { get; set; } = 512;

    /// <summary>Extra octets allowed on MAIL/RCPT lines for SIZE/BODY/RET/ENVID/NOTIFY/ORCPT.</summary>
    public int ParameterLineAllowance { get; set; } = 600;

    /// <summary>Longest text line in DATA including CRLF (RFC 5321 4.5.3.1.6: 1000).</summary>
    public int MaxLineLength { get; set; } = 1000;

    /// <summary>Error replies (4xx/5xx) a session may earn before it is closed with 421 (Postfix: smtpd_hard_error_limit = 20).</summary>
    public int MaxErrors { get; set; } = 20;

    /// <summary>Commands a session may send without starting a transaction (MAIL); then 421.</summary>
    public int MaxCommandsBeforeMail { get; set; } = 20;

    /// <summary>Concurrent connections from one client address; more get 421 4.7.0 at connect.</summary>
    public int MaxConnectionsPerClient { get; set; } = 50;

    /// <summary>How long to wait for the next command (RFC 5321 4.5.3.2.7 suggests 5 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a started command line, a TLS handshake, or each read inside DATA/BDAT may take (RFC 5321 4.5.3.2.5/6).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Client networks trusted to relay (Postfix mynetworks / permit_mynetworks), as CIDRs ("10.0.0.0/8", "::1/128")
    /// or single addresses. Empty by default: nobody relays without AUTH.
    /// </summary>
    public List<string> MyNetworks { get; set; } = [];

    /// <summary>
    /// Offer AUTH on Submission listeners without TLS, but only to clients connecting from a loopback address
    /// (a local webmail or test client). Off by default: AUTH needs TLS (RFC 4954 4, RFC 8314).
    /// </summary>
    public bool AllowPlaintextAuthOnLoopback { get; set; }

    /// <summary>An authenticated user may only use their own address in MAIL FROM (or &lt;&gt;); else 553 5.7.1
    /// (Postfix reject_sender_login_mismatch).</summary>
    public bool RequireSenderOwnership { get; set; } = true;

    /// <summary>A failed AUTH is answered this long after the credentials arrived (slows password guessing and hides whether the
    /// user exists; each failure also counts toward <see cref="MaxErrors"/>).</summary>
    public TimeSpan AuthFailureDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait for the reverse DNS (PTR + forward) check at connect; after it the result is "temperror".</summary>
    public TimeSpan ReverseDnsTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait for the SPF check at MAIL FROM (when <see cref="SmtpServices.Spf"/> is set); after it the
    /// result is "temperror". RFC 7208 4.6.4 suggests at least 20 seconds for the whole evaluation.</summary>
    public TimeSpan SpfTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long RCPT TO trusts an answer of the user directory (is this our domain / our user); 0 asks every time.</summary>
    public TimeSpan DirectoryCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    public SmtpRateLimitOptions RateLimits { get; set; } = new();

    /// <summary>
    /// In-flow control (Postfix in_flow_delay): when the worker in the same process has more than
    /// <see cref="InFlowBacklog"/> envelopes it has not taken yet, a new transaction waits up to this long before its
    /// first recipient's reply, going on as soon as the worker takes an envelope for it. 0 turns it off; at most 10 s
    /// (as Postfix). Only `mail serve` with its worker on applies it.
    /// </summary>
    public TimeSpan InFlowDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Envelopes the inbound backlog may hold before <see cref="InFlowDelay"/> applies (the tokens qmgr keeps
    /// ready: Postfix's default process limit, 100).</summary>
    public int InFlowBacklog { get; set; } = 100;

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every bad setting by its configuration key.</summary>
    public void Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(HostName) || HostName.Any(c => c <= ' ' || c > '~'))
            errors.Add("Smtp:HostName must be a host name (printable ASCII, no spaces).");
        errors.AddRange(ListeningProblems(SectionName));
        for (var i = 0; i < (Listeners?.Count ?? 0); i++)
        {
            var l = Listeners![i];
            var key = $"Smtp:Listeners:{i}";
            if (!Enum.IsDefined(l.Role)) errors.Add($"{key}:Role must be Mx or Submission.");
            if (l.PregreetDelay < TimeSpan.Zero || l.PregreetDelay > TimeSpan.FromMinutes(1))
                errors.Add($"{key}:PregreetDelay must be between 0 and 1 minute.");
            else if (l.PregreetDelay > TimeSpan.Zero && l.ImplicitTls)
                errors.Add($"{key}:PregreetDelay cannot be used with ImplicitTls (the TLS client speaks first).");
        }
        if (MaxMessageSize < 1024) errors.Add("Smtp:MaxMessageSize must be at least 1024.");
        if (MaxRecipients < 1) errors.Add("Smtp:MaxRecipients must be at least 1.");
        if (MaxCommandLineLength < 512) errors.Add("Smtp:MaxCommandLineLength must be at least 512 (RFC 5321 4.5.3.1.4).");
        if (ParameterLineAllowance < 0) errors.Add("Smtp:ParameterLineAllowance must not be negative.");
        if (MaxLineLength < 1000) errors.Add("Smtp:MaxLineLength must be at least 1000 (RFC 5321 4.5.3.1.6).");
        if (MaxErrors < 1) errors.Add("Smtp:MaxErrors must be at least 1.");
        if (MaxCommandsBeforeMail < 1) errors.Add("Smtp:MaxCommandsBeforeMail must be at least 1.");
        if (MaxConnectionsPerClient < 1) errors.Add("Smtp:MaxConnectionsPerClient must be at least 1.");
        if (IdleTimeout <= TimeSpan.Zero) errors.Add("Smtp:IdleTimeout must be positive.");
        if (CommandTimeout <= TimeSpan.Zero) errors.Add("Smtp:CommandTimeout must be positive.");
        if (MyNetworks is not null)
        {
            for (var i = 0; i < MyNetworks.Count; i++)
                if (!Mail.Core.Listening.ClientNetworks.TryParse(MyNetworks[i], out _))
                    errors.Add($"Smtp:MyNetworks:{i} '{MyNetworks[i]}' is not an address or CIDR (e.g. 192.0.2.0/24, 2001:db8::/32).");
        }
        if (AuthFailureDelay < TimeSpan.Zero || AuthFailureDelay > TimeSpan.FromMinutes(1)) errors.Add("Smtp:AuthFailureDelay must be between 0 and 1 minute.");
        if (ReverseDnsTimeout <= TimeSpan.Zero) errors.Add("Smtp:ReverseDnsTimeout must be positive.");
        if (DirectoryCacheTtl < TimeSpan.Zero || DirectoryCacheTtl > TimeSpan.FromHours(1)) errors.Add("Smtp:DirectoryCacheTtl must be between 0 and 1 hour.");
        if (SpfTimeout <= TimeSpan.Zero) errors.Add("Smtp:SpfTimeout must be positive.");
        if (InFlowDelay < TimeSpan.Zero || InFlowDelay > TimeSpan.FromSeconds(10)) errors.Add("Smtp:InFlowDelay must be between 0 (off) and 10 seconds.");
        if (InFlowBacklog < 0) errors.Add("Smtp:InFlowBacklog must not be negative.");
        if (RateLimits is null) errors.Add("Smtp:RateLimits must not be null.");
        else
        {
            if (RateLimits.Window < TimeSpan.FromSeconds(1)) errors.Add("Smtp:RateLimits:Window must be at least 1 second.");
            foreach (var (name, value) in new[]
                     {
                         ("ConnectionsPerClient", RateLimits.ConnectionsPerClient), ("MessagesPerClient", RateLimits.MessagesPerClient),
                         ("RecipientsPerClient", RateLimits.RecipientsPerClient), ("ConnectionsPerNetwork", RateLimits.ConnectionsPerNetwork),
                         ("MessagesPerNetwork", RateLimits.MessagesPerNetwork), ("RecipientsPerNetwork", RateLimits.RecipientsPerNetwork),
                     })
                if (value < 0) errors.Add($"Smtp:RateLimits:{name} must not be negative (0 turns it off).");
            if (RateLimits.IPv4NetworkPrefix is < 8 or > 32) errors.Add("Smtp:RateLimits:IPv4NetworkPrefix must be 8..32.");
            if (RateLimits.IPv6NetworkPrefix is < 16 or > 128) errors.Add("Smtp:RateLimits:IPv6NetworkPrefix must be 16..128.");
        }
        if (errors.Count > 0) throw new OptionsValidationException(SectionName, typeof(SmtpServerOptions), errors);
    }
}
