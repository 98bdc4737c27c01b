using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Mail.Core.Model;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// TLS: implicit (port 465) at connect, or STARTTLS (RFC 3207).
internal sealed partial class SmtpSession
{
    private async ValueTask<bool> StartTlsAsync(string? argument)
    {
        if (_certificate is null)
        {
            Reply(SmtpReplies.StartTlsNotAvailable);
            return true;
        }
        if (Facts.Tls is not null)
        {
            Reply(SmtpReplies.TlsAlreadyActive);
            return true;
        }
        if (argument is not null)
        {
            Reply(SmtpReplies.StartTlsSyntax);
            return true;
        }
        _reply.Write(SmtpReplies.ReadyToStartTls);
        await _reply.FlushAsync();
        // RFC 3207 section 4.2 / CVE-2011-0411: anything the client pipelined after STARTTLS arrived in the clear
        // and must not be executed in the TLS session: throw it away with the plaintext pipes.
        if (_reader.TryRead(out var pending))
        {
            if (pending.Buffer.Length > 0)
                _logger.LogInformation("Session {SessionId}: discarded {Octets} octets pipelined after STARTTLS", Facts.SessionId, pending.Buffer.Length);
            _reader.AdvanceTo(pending.Buffer.End);
        }
        await _reader.CompleteAsync();
        await _writer.CompleteAsync();
        _reader = null!;
        if (!await HandshakeAsync()) return false;
        CreatePipes();
        // RFC 3207 section 4.2: forget everything learned before TLS; the client starts again with EHLO.
        await ResetTransactionAsync();
        _state = SmtpState.Connected;
        Facts.Helo = null;
        Facts.Esmtp = false;
        Facts.AuthenticatedUser = null;
        _limits.ResetCommandsWithoutMail();
        return true;
    }

    private async ValueTask<bool> HandshakeAsync()
    {
        var ssl = new SslStream(_network, leaveInnerStreamOpen: true);
        using var timeout = new CancellationTokenSource(_options.CommandTimeout, _services.Time);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                // Read now, not when the session began: a certificate renewed meanwhile is the one presented.
                ServerCertificateContext = _certificate!.Context,
                ClientCertificateRequired = false,
            }, timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            _logger.LogDebug(ex, "Session {SessionId}: TLS handshake failed", Facts.SessionId);
            await ssl.DisposeAsync();
            return false;
        }
        _stream = ssl;
        Facts.Tls = new TlsInfo(ProtocolName(ssl.SslProtocol), ssl.NegotiatedCipherSuite.ToString());
        return true;
    }

    private static string ProtocolName(SslProtocols p) => p switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => p.ToString(),
    };

}
