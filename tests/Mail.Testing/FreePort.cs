using System.Net;
using System.Net.Sockets;

namespace Mail.Testing;

/// <summary>Loopback ports for servers started by tests.</summary>
public static class FreePort
{
    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it).</summary>
    public static int Tcp()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>A port free for both TCP and UDP on 127.0.0.1 (for DNS servers).</summary>
    public static int TcpAndUdp()
    {
        for (var i = 0; i < 50; i++)
        {
            var port = Tcp();
            try
            {
                using var u = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException("No free TCP+UDP port on loopback.");
    }
}
