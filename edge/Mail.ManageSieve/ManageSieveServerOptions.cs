using Mail.Core.Accounts;
using Mail.Core.Listening;

namespace Mail.ManageSieve;

/// <summary>One listening socket (configuration section "ManageSieve:Listeners:N"). RFC 5804 has no implicit-TLS port:
/// TLS comes by STARTTLS, and ImplicitTls is refused. ProxyProtocol believes the header of a proxy in
/// <see cref="GatewayOptions{TListener}.ProxyNetworks"/>. "[::]:4190" is the IANA port.</summary>
public sealed class ManageSieveListenerOptions() : ListenerOptions("sieve", "127.0.0.1:24190");

/// <summary>Section "ManageSieve"; the gateway settings every protocol shares (host name, listeners, certificate,
/// login throttle, connection limit, PROXY networks) are in <see cref="GatewayOptions{TListener}"/>, the line limits in
/// <see cref="LineGatewayOptions{TListener}"/>. MaxLineLength (a literal's octets are not part of it) defaults to 8192,
/// IdleTimeout to 30 minutes, Dovecot's managesieve idle timeout.</summary>
public sealed class ManageSieveServerOptions() : LineGatewayOptions<ManageSieveListenerOptions>(8192, TimeSpan.FromMinutes(30))
{
    /// <summary>Largest script PUTSCRIPT and CHECKSCRIPT take, in octets (Pigeonhole sieve_max_script_size); a larger one
    /// gets NO (QUOTA/MAXSIZE). At most <see cref="SieveScripts.MaxScriptLength"/>, what the store keeps in one row.</summary>
    public int MaxScriptSize { get; set; } = SieveScripts.MaxScriptLength;

    public override void Validate()
    {
        ValidateGateway("ManageSieve", whenNone: "(ManageSieve:Enabled=false turns ManageSieve off)", noImplicitTls: "RFC 5804 has no implicit-TLS port, TLS comes by STARTTLS");
        ValidateLines("ManageSieve", 1024, "RFC 5804 quoted strings reach 1024 octets");
        if (MaxScriptSize < 1024 || MaxScriptSize > SieveScripts.MaxScriptLength)
            throw new InvalidOperationException($"ManageSieve:MaxScriptSize must be between 1024 and {SieveScripts.MaxScriptLength} octets (the store keeps a script in one row).");
    }
}
