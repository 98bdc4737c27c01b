using System.Net;
using System.Net.Sockets;

namespace Mail.Testing;

/// <summary>Loopback ports for servers started by tests.</summary>
public static class FreePort
{
    // The kernel may hand the same ephemeral port to two bind(0) calls once the first listener is closed:
    // CI once got one port for two listeners of the same host. A port is handed out once per test process.
    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it), never one returned before.</summary>
    public static int Tcp()
    {
        for (var i = 0; i < 100; i++)
        {
            int port;
            using (var l = new TcpListener(IPAddress.Loopback, 0))
            {
                l.Start();
                port = ((IPEndPoint)l.LocalEndpoint).Port;
            }
            lock (HandedOut)
                if (HandedOut.Add(port)) return port;
        }
        throw new InvalidOperationException("No unused free TCP port on loopback.");
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

    /// <summary>True when something listens on 127.0.0.1:<paramref name="port"/>: binding it fails.</summary>
    public static bool IsListening(int port)
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }
}
