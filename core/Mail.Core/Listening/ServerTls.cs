using System.Net.Security;
using System.Security.Authentication;
using Mail.Core.Tls;

namespace Mail.Core.Listening;

/// <summary>Why a STARTTLS (POP3: STLS) is refused before its go-ahead; each protocol words the reply itself.</summary>
public enum StartTlsRefusal
{
    None,
    AlreadyActive,
    NoCertificate,

    /// <summary>Commands pipelined behind STARTTLS would be read as if protected (CVE-2011-0411 style injection): the
    /// session answers and closes.</summary>
    DataAfterCommand,
}

/// <summary>The server side of a TLS handshake for the gateways (STARTTLS, STLS, implicit TLS): TLS 1.2 and 1.3 only,
/// no client certificate.</summary>
public static class ServerTls
{
    public static async Task<SslStream> AcceptAsync(Stream inner, ServerCertificate certificate, CancellationToken ct)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            // Read at each handshake: a certificate renewed since the listener started is the one presented.
            ServerCertificateContext = certificate.Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = false,
        }, ct);
        return ssl;
    }

    /// <summary>The handshake on a line connection (implicit TLS at connect, or after a STARTTLS go-ahead): the
    /// connection reads and writes through TLS after it.</summary>
    public static Task HandshakeAsync(LineConnection connection, ServerCertificate certificate, CancellationToken ct) =>
        connection.SwitchStreamAsync(async s => await AcceptAsync(s, certificate, ct));

    /// <summary>The checks every gateway makes before a STARTTLS go-ahead, in RFC 2595's order.</summary>
    public static StartTlsRefusal CheckStartTls(bool active, ServerCertificate? certificate, LineConnection connection) =>
        active ? StartTlsRefusal.AlreadyActive
        : certificate is null ? StartTlsRefusal.NoCertificate
        : connection.HasBufferedInput ? StartTlsRefusal.DataAfterCommand
        : StartTlsRefusal.None;

    /// <summary>Sends the go-ahead line and runs the handshake.</summary>
    public static async Task StartTlsAsync(LineConnection connection, string goAhead, ServerCertificate certificate, CancellationToken ct)
    {
        connection.WriteLine(goAhead);
        await connection.FlushAsync(ct);
        await HandshakeAsync(connection, certificate, ct);
    }
}
