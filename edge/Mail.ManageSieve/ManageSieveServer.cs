using System.Net;
using System.Net.Sockets;
using Mail.Core.Listening;
using Mail.ManageSieve.Protocol;
using Mail.ManageSieve.Session;
using Microsoft.Extensions.Logging;

namespace Mail.ManageSieve;

/// <summary>
/// The ManageSieve service (RFC 5804): users upload, check, list, activate and remove the Sieve scripts delivery runs,
/// from Thunderbird's sieve add-on, Roundcube's managesieve plugin or sieve-connect. Set up as every
/// <see cref="GatewayServer{TListener, TOptions, TServices}"/>; each connection runs a <see cref="ManageSieveSession"/>.
/// At shutdown every session is told BYE (TRYLATER).
/// </summary>
public sealed class ManageSieveServer(ManageSieveServerOptions options, ManageSieveServices services, ILoggerFactory? loggerFactory = null)
    : GatewayServer<ManageSieveListenerOptions, ManageSieveServerOptions, ManageSieveServices>(
        "ManageSieve", "ManageSieve", options, services, ManageSieveReplies.TooManyConnections, loggerFactory)
{
    protected override IListenerSession CreateSession(Socket socket, IPEndPoint client, ListenerOptions listener) =>
        new ManageSieveSession(socket, client, Options, Services, Throttle, Logger);
}
