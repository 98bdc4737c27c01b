using System.Globalization;
using Mail.Core.Model;
using Microsoft.Extensions.Logging;

namespace Mail.Outbound;

/// <summary>
/// One line per recipient attempt in Postfix's shape, so the greps admins know still work:
/// <c>QUEUEID: to=&lt;bob@example.net&gt;, relay=mx.example.net[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.4/0.7, dsn=2.0.0, status=sent (250 2.0.0 Ok)</c>.
/// delays= is: time in the queue before this attempt / waiting for the destination's concurrency slot / DNS routing /
/// the SMTP conversation (connect, TLS and transaction).
/// </summary>
public static class DeliveryLog
{
    public static string Line(string queueId, Recipient recipient, RemoteReply reply, string status, TimeSpan delay, TimeSpan queued, TimeSpan waited, TimeSpan routing, TimeSpan smtp)
    {
        var relay = reply.Host is { } host ? $"{host}[{HostOf(reply.Address)}]:{PortOf(reply.Address)}" : "none";
        var text = reply.Code == 0 ? reply.Text : $"{reply.Code} {reply.EnhancedCode} {reply.Text}";
        return string.Create(CultureInfo.InvariantCulture,
            $"{queueId}: to=<{recipient.Address}>, relay={relay}, delay={delay.TotalSeconds:0.##}, delays={queued.TotalSeconds:0.##}/{waited.TotalSeconds:0.##}/{routing.TotalSeconds:0.##}/{smtp.TotalSeconds:0.##}, dsn={reply.EnhancedCode}, status={status} ({text})");
    }

    public static void Write(ILogger log, string line) => log.LogInformation("{DeliveryLine}", line);

    private static string HostOf(string? address)
    {
        if (address is null) return "";
        var colon = address.LastIndexOf(':');
        var host = colon < 0 ? address : address[..colon];
        return host.Trim('[', ']');
    }

    private static string PortOf(string? address)
    {
        if (address is null) return "";
        var colon = address.LastIndexOf(':');
        return colon < 0 ? "" : address[(colon + 1)..];
    }
}
