using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Mail.Core.Model;
using Mail.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

internal enum RateEvent
{
    Connection,
    Message,
    Recipient,
}

/// <summary>
/// Fixed-window counters per client address and per client network (/24, /64) in the shared state store
/// (Postfix anvil: smtpd_client_connection_rate_limit, _message_rate_limit, _recipient_rate_limit).
/// A state store failure lets the event through: rate limiting must not turn into an outage.
/// </summary>
internal sealed class RateLimiter(SmtpRateLimitOptions options, IStateStore state, TimeProvider time, ILogger logger)
{
    private const string Partition = "smtp-rate";

    /// <summary>Counts the event; returns the refusal text when the client or its network is over its limit, else null.
    /// <paramref name="client"/> is the session's, which the listener gave as IPv4 for an IPv4 client
    /// (<see cref="Mail.Core.Listening.ClientAddress"/>).</summary>
    public async ValueTask<string?> CountAsync(RateEvent kind, IPAddress client)
    {
        var (perClient, perNetwork, noun) = kind switch
        {
            RateEvent.Connection => (options.ConnectionsPerClient, options.ConnectionsPerNetwork, "connections"),
            RateEvent.Message => (options.MessagesPerClient, options.MessagesPerNetwork, "messages"),
            _ => (options.RecipientsPerClient, options.RecipientsPerNetwork, "recipients"),
        };
        if (perClient == 0 && perNetwork == 0) return null;
        var now = time.GetUtcNow();
        var windowTicks = options.Window.Ticks;
        var window = now.UtcTicks / windowTicks;
        // Keep the counter one window longer than needed so a late increment never recreates an expired one at 0.
        var expires = new DateTimeOffset((window + 2) * windowTicks, TimeSpan.Zero);
        var suffix = window.ToString(CultureInfo.InvariantCulture);
        try
        {
            // Both counters see every event, so a client refused on its own limit still uses up its network's budget.
            string? refusal = null;
            if (perClient > 0)
            {
                var n = await state.IncrementAsync(Partition, $"{noun}/ip/{client}/{suffix}", 1, expires);
                if (n > perClient) refusal = $"Too many {noun} from {client}";
            }
            if (perNetwork > 0)
            {
                var prefix = client.AddressFamily == AddressFamily.InterNetwork ? options.IPv4NetworkPrefix : options.IPv6NetworkPrefix;
                var network = $"{NetworkPrefix.Mask(client, prefix)}/{prefix.ToString(CultureInfo.InvariantCulture)}";
                var n = await state.IncrementAsync(Partition, $"{noun}/net/{network}/{suffix}", 1, expires);
                if (n > perNetwork) refusal ??= $"Too many {noun} from your network {network}";
            }
            return refusal;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Rate limit counter for {Client} unavailable; letting the {Event} through", client, kind);
        }
        return null;
    }
}
