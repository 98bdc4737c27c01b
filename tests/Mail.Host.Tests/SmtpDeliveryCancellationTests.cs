using System.Net;
using System.Net.Sockets;
using Mail.Core.Model;
using Mail.Outbound;
using Mail.Outbound.Routing;
using Mail.Outbound.Smtp;

namespace Mail.Host.Tests;

/// <summary>The outbound SMTP client closes its connection when a delivery is cancelled (shutdown) while it connects:
/// a real listener that accepts and never greets sees the end of the stream.</summary>
public sealed class SmtpDeliveryCancellationTests
{
    [Fact]
    public async Task A_delivery_cancelled_while_waiting_for_the_greeting_closes_its_socket()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var delivery = new SmtpDelivery(new OutboundOptions(), "client.example.test");
        var route = new Route(RouteOutcome.Deliver, [new MxHost("mx.example.test", [IPAddress.Loopback])], port, TlsPolicy.None, false, null);
        var envelope = new Envelope
        {
            QueueId = "CANCEL1",
            MessageRef = "raw-cancel",
            ReceivedAt = DateTimeOffset.UtcNow,
            Client = new ClientInfo { Address = "127.0.0.1", Helo = "test" },
            MailFrom = "bob@example.org",
            Recipients = [new Recipient { Address = "carol@example.net" }],
        };
        using var cancel = new CancellationTokenSource();
        var sending = delivery.DeliverAsync(route, envelope, envelope.Recipients, () => throw new InvalidOperationException("no message is sent before the greeting"), cancel.Token);

        using var server = await listener.AcceptSocketAsync();
        // The client is connected and waits for a 220 that never comes.
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);

        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var n = await server.ReceiveAsync(new byte[64], SocketFlags.None, wait.Token);
        Assert.Equal(0, n);
    }
}
