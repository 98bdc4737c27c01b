using Mail.Core.Tls;

namespace Mail.Core.Listening;

/// <summary>The settings every server that listens has, held once for SMTP, IMAP, POP3 and ManageSieve: greeting name,
/// listeners, certificate, connection limit and the PROXY protocol proxies. Each protocol's options class derives from
/// it (through <see cref="GatewayOptions{TListener}"/> for the mailbox-access gateways), so the configuration keys stay
/// "&lt;Section&gt;:HostName", "&lt;Section&gt;:ProxyNetworks" and so on (the binder, reflection-based or
/// source-generated for Native AOT, binds inherited properties like declared ones). A protocol whose defaults differ
/// sets them in its constructor.</summary>
public abstract class ListeningOptions<TListener> where TListener : ListenerOptions
{
    /// <summary>Name in the greeting (SMTP: also in the EHLO reply and the Received: header).</summary>
    public string HostName { get; set; } = "localhost";

    public List<TListener> Listeners { get; set; } = [];

    /// <summary>Certificate for STARTTLS (POP3: STLS) and implicit TLS listeners (read at each handshake, so a renewal
    /// needs no restart); without one, STARTTLS is not offered.</summary>
    public ServerCertificate? Certificate { get; set; }

    /// <summary>Concurrent connections across all listeners; more are refused at connect (SMTP: 421 4.7.0).</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>The proxies (CIDRs or single addresses) whose PROXY protocol header a listener with
    /// <see cref="ListenerOptions.ProxyProtocol"/> believes; connections from anywhere else are closed, since their
    /// header could claim any client (Dovecot haproxy_trusted_networks). Required when a listener has the option.</summary>
    public List<string> ProxyNetworks { get; set; } = [];

    /// <summary>How long a proxy may take to send the PROXY protocol header (Dovecot haproxy_timeout, 3 s; SMTP's
    /// default is Postfix's smtpd_upstream_proxy_timeout, 5 s).</summary>
    public TimeSpan ProxyTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Every problem with these settings (the host name aside, whose rule is the protocol's), each naming its
    /// key under <paramref name="section"/>; <paramref name="whenNone"/> and <paramref name="noImplicitTls"/> as in
    /// <see cref="ListenerOptions.Problems"/>.</summary>
    protected List<string> ListeningProblems(string section, string? whenNone = null, string? noImplicitTls = null)
    {
        var errors = ListenerOptions.Problems(section, Listeners, Certificate is not null, ProxyNetworks, ProxyTimeout, whenNone, noImplicitTls);
        if (Certificate is not null && !Certificate.Certificate.HasPrivateKey) errors.Add($"{section}:Certificate has no private key.");
        if (MaxConnections < 1) errors.Add($"{section}:MaxConnections must be at least 1.");
        return errors;
    }
}
