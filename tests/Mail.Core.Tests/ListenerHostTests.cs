using System.Net;
using System.Net.Sockets;
using Mail.Core.Listening;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Core.Tests;

/// <summary>The shared listener host on real sockets: the client a session sees, the connection limit's refusal, and a
/// shutdown that tells every session.</summary>
public sealed class ListenerHostTests
{
    private sealed class Session(Socket socket) : IListenerSession
    {
        public bool Stopped;

        public async Task RunAsync(CancellationToken stopping)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, stopping);
            }
            catch (OperationCanceledException)
            {
                Stopped = true;
            }
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class Handler(int max, List<IPEndPoint> seen, List<Session> sessions) : IConnectionHandler<ListenerOptions>
    {
        public IListenerSession? Admit(Socket socket, IPEndPoint client, IPEndPoint local, ListenerOptions listener, int open, bool stopping)
        {
            if (open >= max)
            {
                _ = ListenerHost.RefuseAsync(socket, "* BYE full\r\n"u8.ToArray());
                return null;
            }
            lock (seen) seen.Add(client);
            var s = new Session(socket);
            lock (sessions) sessions.Add(s);
            return s;
        }
    }

    [Fact]
    public async Task An_IPv4_client_of_a_dual_stack_listener_is_seen_as_IPv4_and_the_limit_refuses_with_the_line()
    {
        var seen = new List<IPEndPoint>();
        var sessions = new List<Session>();
        using var host = new ListenerHost<ListenerOptions>("TEST", "Test", [new ListenerOptions { Name = "any", Endpoint = "[::]:0" }],
            new ClientNetworks([]), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(10), NullLogger.Instance);
        host.Start(new Handler(1, seen, sessions));
        var port = host.BoundEndpoints["any"].Port;

        using var first = new TcpClient();
        await first.ConnectAsync(IPAddress.Loopback, port);
        for (var i = 0; i < 600 && host.OpenSessions == 0; i++) await Task.Delay(50);
        lock (seen)
        {
            var client = Assert.Single(seen);
            Assert.Equal(AddressFamily.InterNetwork, client.Address.AddressFamily);
            Assert.Equal(IPAddress.Loopback, client.Address);
        }

        using var second = new TcpClient();
        await second.ConnectAsync(IPAddress.Loopback, port);
        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var n = await second.GetStream().ReadAsync(buffer, timeout.Token);
        Assert.Equal("* BYE full\r\n", System.Text.Encoding.ASCII.GetString(buffer, 0, n));

        await host.StopAsync(timeout.Token);
        Assert.True(Assert.Single(sessions).Stopped);
        Assert.Equal(0, host.OpenSessions);
    }
}
