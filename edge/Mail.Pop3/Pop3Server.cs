using System.Net;
using System.Net.Sockets;
using Mail.Core.Listening;
using Mail.Pop3.Protocol;
using Mail.Pop3.Session;
using Microsoft.Extensions.Logging;

namespace Mail.Pop3;

/// <summary>
/// The POP3 gateway (RFC 1939 with RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 SASL PLAIN) over the user's INBOX in the
/// mailbox store, the same one IMAP serves. Set up as every <see cref="GatewayServer{TListener, TOptions, TServices}"/>;
/// each connection runs a <see cref="Pop3Session"/>. At shutdown every session is told "-ERR [SYS/TEMP] Server shutting
/// down" (nothing is expunged).
/// </summary>
public sealed class Pop3Server(Pop3ServerOptions options, Pop3Services services, ILoggerFactory? loggerFactory = null)
    : GatewayServer<Pop3ListenerOptions, Pop3ServerOptions, Pop3Services>("POP3", "Pop3", options, services, Pop3Replies.TooManyConnections, loggerFactory)
{
    private readonly MaildropLocks _locks = new();

    protected override IListenerSession CreateSession(Socket socket, IPEndPoint client, ListenerOptions listener) =>
        new Pop3Session(socket, client, listener.ImplicitTls, Options, Services, Throttle, _locks, Logger);
}
