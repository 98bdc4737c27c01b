using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.Core.Tls;

namespace Mail.ManageSieve;

/// <summary>One listening socket (configuration section "ManageSieve:Listeners:N"). RFC 5804 has no implicit-TLS port:
/// TLS comes by STARTTLS, and ImplicitTls is refused. ProxyProtocol believes the header of a proxy in
/// <see cref="ManageSieveServerOptions.ProxyNetworks"/>.</summary>
public sealed class ManageSieveListenerOptions : ListenerOptions
{
    public ManageSieveListenerOptions()
    {
        Name = "sieve";
        // "[::]:4190" is the IANA port.
        Endpoint = "127.0.0.1:24190";
    }
}

public sealed class ManageSieveServerOptions
{
    /// <summary>Name in the greeting's OK line.</summary>
    public string HostName { get; set; } = "localhost";

    public List<ManageSieveListenerOptions> Listeners { get; set; } = [];

    /// <summary>Certificate for STARTTLS; without one, STARTTLS is not offered.</summary>
    public ServerCertificate? Certificate { get; set; }

    /// <summary>AUTHENTICATE without TLS when the client is on loopback (IMAP's LOGINDISABLED rule; `mail serve` takes
    /// Imap:AllowPlaintextLoginOnLoopback unless this is set).</summary>
    public bool AllowPlaintextLoginOnLoopback { get; set; } = true;

    /// <summary>Longest command line, CRLF excluded (a literal's octets are not part of it).</summary>
    public int MaxLineLength { get; set; } = 8192;

    /// <summary>Largest script PUTSCRIPT and CHECKSCRIPT take, in octets (Pigeonhole sieve_max_script_size); a larger one
    /// gets NO (QUOTA/MAXSIZE). At most <see cref="SieveScripts.MaxScriptLength"/>, what the store keeps in one row.</summary>
    public int MaxScriptSize { get; set; } = SieveScripts.MaxScriptLength;

    /// <summary>Inactivity autologout (Dovecot's managesieve idle timeout is 30 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Unknown commands, commands in the wrong state and bad arguments a session may send before BYE.</summary>
    public int MaxBadCommands { get; set; } = 10;

    /// <summary>Pause after each failed login (slows down password guessing).</summary>
    public TimeSpan FailedLoginDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failed logins per client address, or per user, within <see cref="FailedLoginWindow"/> before logins are
    /// refused; used only when no shared <see cref="LoginThrottle"/> is given (`mail serve` shares IMAP's).</summary>
    public int MaxFailedLogins { get; set; } = 5;

    public TimeSpan FailedLoginWindow { get; set; } = TimeSpan.FromMinutes(15);

    public int MaxConnections { get; set; } = 1000;

    /// <summary>Proxies (CIDRs or addresses) whose PROXY protocol header a listener with
    /// <see cref="ManageSieveListenerOptions.ProxyProtocol"/> believes (Dovecot haproxy_trusted_networks).</summary>
    public List<string> ProxyNetworks { get; set; } = [];

    /// <summary>How long a proxy may take to send the PROXY protocol header (Dovecot haproxy_timeout, 3 s).</summary>
    public TimeSpan ProxyTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(HostName)) throw new InvalidOperationException("ManageSieve:HostName must not be empty.");
        ListenerOptions.ThrowFirstProblem("ManageSieve", Listeners, Certificate is not null, ProxyNetworks, ProxyTimeout,
            whenNone: "(ManageSieve:Enabled=false turns ManageSieve off)", noImplicitTls: "RFC 5804 has no implicit-TLS port, TLS comes by STARTTLS");
        if (Certificate is not null && !Certificate.Certificate.HasPrivateKey) throw new InvalidOperationException("ManageSieve:Certificate has no private key.");
        if (MaxLineLength < 1024) throw new InvalidOperationException("ManageSieve:MaxLineLength must be at least 1024 (RFC 5804 quoted strings reach 1024 octets).");
        if (MaxScriptSize < 1024 || MaxScriptSize > SieveScripts.MaxScriptLength)
            throw new InvalidOperationException($"ManageSieve:MaxScriptSize must be between 1024 and {SieveScripts.MaxScriptLength} octets (the store keeps a script in one row).");
        if (IdleTimeout <= TimeSpan.Zero) throw new InvalidOperationException("ManageSieve:IdleTimeout must be positive.");
        if (MaxBadCommands < 1) throw new InvalidOperationException("ManageSieve:MaxBadCommands must be at least 1.");
        if (FailedLoginDelay < TimeSpan.Zero) throw new InvalidOperationException("ManageSieve:FailedLoginDelay must not be negative.");
        if (MaxFailedLogins < 1) throw new InvalidOperationException("ManageSieve:MaxFailedLogins must be at least 1.");
        if (FailedLoginWindow <= TimeSpan.Zero) throw new InvalidOperationException("ManageSieve:FailedLoginWindow must be positive.");
        if (MaxConnections < 1) throw new InvalidOperationException("ManageSieve:MaxConnections must be at least 1.");
    }
}
