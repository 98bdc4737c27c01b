using Mail.Core.Accounts;
using Mail.Core.Listening;

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

/// <summary>Section "ManageSieve"; the gateway settings every protocol shares (host name, listeners, certificate,
/// login throttle, connection limit, PROXY networks) are in <see cref="GatewayOptions{TListener}"/>.</summary>
public sealed class ManageSieveServerOptions : GatewayOptions<ManageSieveListenerOptions>
{
    /// <summary>Longest command line, CRLF excluded (a literal's octets are not part of it).</summary>
    public int MaxLineLength { get; set; } = 8192;

    /// <summary>Largest script PUTSCRIPT and CHECKSCRIPT take, in octets (Pigeonhole sieve_max_script_size); a larger one
    /// gets NO (QUOTA/MAXSIZE). At most <see cref="SieveScripts.MaxScriptLength"/>, what the store keeps in one row.</summary>
    public int MaxScriptSize { get; set; } = SieveScripts.MaxScriptLength;

    /// <summary>Inactivity autologout (Dovecot's managesieve idle timeout is 30 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Unknown commands, commands in the wrong state and bad arguments a session may send before BYE.</summary>
    public int MaxBadCommands { get; set; } = 10;

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        ValidateGateway("ManageSieve", whenNone: "(ManageSieve:Enabled=false turns ManageSieve off)", noImplicitTls: "RFC 5804 has no implicit-TLS port, TLS comes by STARTTLS");
        if (MaxLineLength < 1024) throw new InvalidOperationException("ManageSieve:MaxLineLength must be at least 1024 (RFC 5804 quoted strings reach 1024 octets).");
        if (MaxScriptSize < 1024 || MaxScriptSize > SieveScripts.MaxScriptLength)
            throw new InvalidOperationException($"ManageSieve:MaxScriptSize must be between 1024 and {SieveScripts.MaxScriptLength} octets (the store keeps a script in one row).");
        if (IdleTimeout <= TimeSpan.Zero) throw new InvalidOperationException("ManageSieve:IdleTimeout must be positive.");
        if (MaxBadCommands < 1) throw new InvalidOperationException("ManageSieve:MaxBadCommands must be at least 1.");
    }
}
