using Mail.Core.Listening;
using Mail.Core.Tls;

namespace Mail.Pop3;

/// <summary>One listening socket (configuration section "Pop3:Listeners:N"): "110-style" (plain, STLS offered) or
/// "995-style" (implicit TLS); ProxyProtocol believes the header of a proxy in <see cref="Pop3ServerOptions.ProxyNetworks"/>.</summary>
public sealed class Pop3ListenerOptions : ListenerOptions
{
    public Pop3ListenerOptions()
    {
        Name = "pop3";
        Endpoint = "127.0.0.1:2110";
    }
}

public sealed class Pop3ServerOptions
{
    /// <summary>Name in the greeting.</summary>
    public string HostName { get; set; } = "localhost";

    public List<Pop3ListenerOptions> Listeners { get; set; } = [];

    /// <summary>Certificate for STLS and implicit TLS listeners; without one, STLS is not offered.</summary>
    public ServerCertificate? Certificate { get; set; }

    /// <summary>USER/PASS and AUTH PLAIN without TLS when the client is on loopback (as IMAP's LOGINDISABLED rule;
    /// `mail serve` takes Imap:AllowPlaintextLoginOnLoopback unless this is set).</summary>
    public bool AllowPlaintextLoginOnLoopback { get; set; } = true;

    /// <summary>Longest line a client may send, CRLF excluded: a command, or a SASL response (RFC 2449 allows
    /// commands 255 octets; a PLAIN response for a long password may be longer).</summary>
    public int MaxLineLength { get; set; } = 2048;

    /// <summary>Inactivity autologout (RFC 1939 section 3: at least 10 minutes). No expunge happens on autologout.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Unknown commands, commands in the wrong state and bad arguments a session may send before it is closed.</summary>
    public int MaxBadCommands { get; set; } = 10;

    /// <summary>Pause after each failed login (slows down password guessing).</summary>
    public TimeSpan FailedLoginDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failed logins per client address, or per user, within <see cref="FailedLoginWindow"/> before logins are
    /// refused; used only when no shared <see cref="LoginThrottle"/> is given (`mail serve` shares IMAP's).</summary>
    public int MaxFailedLogins { get; set; } = 5;

    public TimeSpan FailedLoginWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>One POP3 session per maildrop at a time (RFC 1939's exclusive-access lock; Dovecot pop3_lock_session);
    /// a second login gets "-ERR [IN-USE]". Per process: each gateway instance keeps its own locks.</summary>
    public bool LockSession { get; set; } = true;

    /// <summary>Leave flags alone: no \Seen on retrieved messages at QUIT (Dovecot pop3_no_flag_updates).</summary>
    public bool NoFlagUpdates { get; set; }

    public int MaxConnections { get; set; } = 1000;

    /// <summary>Proxies (CIDRs or addresses) whose PROXY protocol header a listener with
    /// <see cref="Pop3ListenerOptions.ProxyProtocol"/> believes (Dovecot haproxy_trusted_networks).</summary>
    public List<string> ProxyNetworks { get; set; } = [];

    /// <summary>How long a proxy may take to send the PROXY protocol header (Dovecot haproxy_timeout, 3 s).</summary>
    public TimeSpan ProxyTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(HostName)) throw new InvalidOperationException("Pop3:HostName must not be empty.");
        ListenerOptions.ThrowFirstProblem("Pop3", Listeners, Certificate is not null, ProxyNetworks, ProxyTimeout, whenNone: "(Pop3:Enabled=false turns POP3 off)");
        if (Certificate is not null && !Certificate.Certificate.HasPrivateKey) throw new InvalidOperationException("Pop3:Certificate has no private key.");
        if (MaxLineLength < 255) throw new InvalidOperationException("Pop3:MaxLineLength must be at least 255 (RFC 2449).");
        if (IdleTimeout <= TimeSpan.Zero) throw new InvalidOperationException("Pop3:IdleTimeout must be positive (RFC 1939 asks for at least 10 minutes).");
        if (MaxBadCommands < 1) throw new InvalidOperationException("Pop3:MaxBadCommands must be at least 1.");
        if (FailedLoginDelay < TimeSpan.Zero) throw new InvalidOperationException("Pop3:FailedLoginDelay must not be negative.");
        if (MaxFailedLogins < 1) throw new InvalidOperationException("Pop3:MaxFailedLogins must be at least 1.");
        if (FailedLoginWindow <= TimeSpan.Zero) throw new InvalidOperationException("Pop3:FailedLoginWindow must be positive.");
        if (MaxConnections < 1) throw new InvalidOperationException("Pop3:MaxConnections must be at least 1.");
    }
}
