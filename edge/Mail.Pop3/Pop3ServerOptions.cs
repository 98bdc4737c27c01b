using Mail.Core.Listening;

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

/// <summary>Section "Pop3"; the gateway settings every protocol shares (host name, listeners, certificate,
/// login throttle, connection limit, PROXY networks) are in <see cref="GatewayOptions{TListener}"/>.</summary>
public sealed class Pop3ServerOptions : GatewayOptions<Pop3ListenerOptions>
{
    /// <summary>Longest line a client may send, CRLF excluded: a command, or a SASL response (RFC 2449 allows
    /// commands 255 octets; a PLAIN response for a long password may be longer).</summary>
    public int MaxLineLength { get; set; } = 2048;

    /// <summary>Inactivity autologout (RFC 1939 section 3: at least 10 minutes). No expunge happens on autologout.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Unknown commands, commands in the wrong state and bad arguments a session may send before it is closed.</summary>
    public int MaxBadCommands { get; set; } = 10;

    /// <summary>One POP3 session per maildrop at a time (RFC 1939's exclusive-access lock; Dovecot pop3_lock_session);
    /// a second login gets "-ERR [IN-USE]". Per process: each gateway instance keeps its own locks.</summary>
    public bool LockSession { get; set; } = true;

    /// <summary>Leave flags alone: no \Seen on retrieved messages at QUIT (Dovecot pop3_no_flag_updates).</summary>
    public bool NoFlagUpdates { get; set; }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        ValidateGateway("Pop3", whenNone: "(Pop3:Enabled=false turns POP3 off)");
        if (MaxLineLength < 255) throw new InvalidOperationException("Pop3:MaxLineLength must be at least 255 (RFC 2449).");
        if (IdleTimeout <= TimeSpan.Zero) throw new InvalidOperationException("Pop3:IdleTimeout must be positive (RFC 1939 asks for at least 10 minutes).");
        if (MaxBadCommands < 1) throw new InvalidOperationException("Pop3:MaxBadCommands must be at least 1.");
    }
}
