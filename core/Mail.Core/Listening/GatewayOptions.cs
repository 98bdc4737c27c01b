using Mail.Core.Tls;

namespace Mail.Core.Listening;

/// <summary>The settings every mailbox-access gateway (IMAP, POP3, ManageSieve) has, held once: greeting name,
/// listeners, certificate, plaintext login on loopback, login throttle, connection limit and the PROXY protocol
/// proxies. Each protocol's options class derives from it, so the configuration keys stay "&lt;Section&gt;:HostName",
/// "&lt;Section&gt;:ProxyNetworks" and so on (the binder, reflection-based or source-generated for Native AOT, binds
/// inherited properties like declared ones). SMTP's options are not one of these: its defaults, plaintext rule and
/// error collection differ.</summary>
public abstract class GatewayOptions<TListener> where TListener : ListenerOptions
{
    /// <summary>Name in the greeting.</summary>
    public string HostName { get; set; } = "localhost";

    public List<TListener> Listeners { get; set; } = [];

    /// <summary>Certificate for STARTTLS (POP3: STLS) and implicit TLS listeners (read at each handshake, so a renewal
    /// needs no restart); without one, STARTTLS is not offered.</summary>
    public ServerCertificate? Certificate { get; set; }

    /// <summary>Login without TLS when the client is on loopback (embedded mode convenience; IMAP's LOGINDISABLED rule).
    /// `mail serve` gives POP3 and ManageSieve Imap:AllowPlaintextLoginOnLoopback unless their section sets it.</summary>
    public bool AllowPlaintextLoginOnLoopback { get; set; } = true;

    /// <summary>Pause after each failed login (slows down password guessing).</summary>
    public TimeSpan FailedLoginDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failed logins per client address, or per user, within <see cref="FailedLoginWindow"/> before logins are
    /// refused; used only when the server is given no shared <see cref="LoginThrottle"/> (`mail serve` shares IMAP's).</summary>
    public int MaxFailedLogins { get; set; } = 5;

    /// <summary>Window over which failures are counted, and how long a client or user stays refused.</summary>
    public TimeSpan FailedLoginWindow { get; set; } = TimeSpan.FromMinutes(15);

    public int MaxConnections { get; set; } = 1000;

    /// <summary>The proxies (CIDRs or single addresses) whose PROXY protocol header a listener with
    /// <see cref="ListenerOptions.ProxyProtocol"/> believes; connections from anywhere else are closed (Dovecot
    /// haproxy_trusted_networks). Required when a listener has the option.</summary>
    public List<string> ProxyNetworks { get; set; } = [];

    /// <summary>How long a proxy may take to send the PROXY protocol header (Dovecot haproxy_timeout, 3 s).</summary>
    public TimeSpan ProxyTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad setting.</summary>
    public abstract void Validate();

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad shared setting of
    /// <paramref name="section"/>; <paramref name="whenNone"/> and <paramref name="noImplicitTls"/> as in
    /// <see cref="ListenerOptions.Problems"/>. The protocol's own settings are checked by its Validate after this.</summary>
    protected void ValidateGateway(string section, string? whenNone = null, string? noImplicitTls = null)
    {
        if (string.IsNullOrWhiteSpace(HostName)) throw new InvalidOperationException($"{section}:HostName must not be empty.");
        ListenerOptions.ThrowFirstProblem(section, Listeners, Certificate is not null, ProxyNetworks, ProxyTimeout, whenNone, noImplicitTls);
        if (Certificate is not null && !Certificate.Certificate.HasPrivateKey) throw new InvalidOperationException($"{section}:Certificate has no private key.");
        if (FailedLoginDelay < TimeSpan.Zero) throw new InvalidOperationException($"{section}:FailedLoginDelay must not be negative.");
        if (MaxFailedLogins < 1) throw new InvalidOperationException($"{section}:MaxFailedLogins must be at least 1.");
        if (FailedLoginWindow <= TimeSpan.Zero) throw new InvalidOperationException($"{section}:FailedLoginWindow must be positive.");
        if (MaxConnections < 1) throw new InvalidOperationException($"{section}:MaxConnections must be at least 1.");
    }
}
