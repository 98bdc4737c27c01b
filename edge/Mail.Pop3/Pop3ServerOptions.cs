using Mail.Core.Listening;

namespace Mail.Pop3;

/// <summary>One listening socket (configuration section "Pop3:Listeners:N"): "110-style" (plain, STLS offered) or
/// "995-style" (implicit TLS); ProxyProtocol believes the header of a proxy in <see cref="GatewayOptions{TListener}.ProxyNetworks"/>.</summary>
public sealed class Pop3ListenerOptions() : ListenerOptions("pop3", "127.0.0.1:2110");

/// <summary>Section "Pop3"; the gateway settings every protocol shares (host name, listeners, certificate,
/// login throttle, connection limit, PROXY networks) are in <see cref="GatewayOptions{TListener}"/>, the line limits in
/// <see cref="LineGatewayOptions{TListener}"/>. MaxLineLength defaults to 2048: RFC 2449 allows commands 255 octets,
/// and a PLAIN response for a long password may be longer. IdleTimeout defaults to 10 minutes, RFC 1939's least
/// autologout; no expunge happens on autologout.</summary>
public sealed class Pop3ServerOptions() : LineGatewayOptions<Pop3ListenerOptions>(2048, TimeSpan.FromMinutes(10))
{
    /// <summary>One POP3 session per maildrop at a time (RFC 1939's exclusive-access lock; Dovecot pop3_lock_session);
    /// a second login gets "-ERR [IN-USE]". Per process: each gateway instance keeps its own locks.</summary>
    public bool LockSession { get; set; } = true;

    /// <summary>Leave flags alone: no \Seen on retrieved messages at QUIT (Dovecot pop3_no_flag_updates).</summary>
    public bool NoFlagUpdates { get; set; }

    public override void Validate()
    {
        ValidateGateway("Pop3", whenNone: "(Pop3:Enabled=false turns POP3 off)");
        ValidateLines("Pop3", 255, "RFC 2449", idleNote: "(RFC 1939 asks for at least 10 minutes)");
    }
}
