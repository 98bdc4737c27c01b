using System.Net.Security;
using System.Security.Authentication;
using Mail.Core.Tls;

namespace Mail.Core.Listening;

/// <summary>The server side of a TLS handshake for the IMAP and POP3 gateways (STARTTLS, STLS, implicit TLS): TLS 1.2
/// and 1.3 only, no client certificate.</summary>
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
}
