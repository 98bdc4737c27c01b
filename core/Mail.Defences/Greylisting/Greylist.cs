using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Listening;

namespace Mail.Defences.Greylisting;

/// <summary>
/// Greylisting (RFC 6647) over the state store. The triplet is (client network, sender, recipient); the network is
/// the client's /24 (IPv4) or /64 (IPv6) so a sender retrying from a neighbouring address is recognised. When SPF
/// passed for the sender domain, the triplet is keyed on that domain instead of the network: large senders retry
/// from other addresses of their own SPF record and should not be delayed again.
/// State value: "first-seen-unix-seconds;passed-unix-seconds-or-empty". Triplets expire RetryWindow after first
/// sight until they pass, then Lifetime after their last use; <see cref="PurgeAsync"/> deletes expired entries.
/// </summary>
public sealed class Greylist
{
    private readonly IStateStore _state;
    private readonly GreylistOptions _options;
    private readonly TimeProvider _time;

    public Greylist(IStateStore state, GreylistOptions options, TimeProvider time)
    {
        options.Validate();
        _state = state;
        _options = options;
        _time = time;
    }

    /// <param name="spfPassDomain">The MAIL FROM (or HELO) domain SPF returned pass for, or null.</param>
    public async Task<GreylistDecision> CheckAsync(IPAddress client, string mailFrom, string rcptTo, string? spfPassDomain, CancellationToken cancellationToken = default)
    {
        client = client.Unmapped();
        var sender = NormalizeSender(mailFrom);
        var recipient = rcptTo.ToLowerInvariant();
        if (IsWhitelisted(client, sender, recipient)) return new GreylistDecision(false, GreylistReason.Whitelisted, null, null);

        var clientKey = spfPassDomain is { Length: > 0 } d ? "spf:" + (Address.NormalizeDomain(d) ?? d.ToLowerInvariant()) : NetworkOf(client);
        if (_options.AutoWhitelistAfter > 0)
        {
            var awl = await _state.GetAsync(_options.AutoWhitelistPartition, clientKey, cancellationToken);
            if (awl is not null && ParseCount(awl.Value) >= _options.AutoWhitelistAfter)
                return new GreylistDecision(false, GreylistReason.AutoWhitelisted, null, null);
        }

        var triplet = $"{clientKey}/{sender}/{recipient}";
        for (var attempt = 0; ; attempt++)
        {
            var now = _time.GetUtcNow();
            var entry = await _state.GetAsync(_options.TripletPartition, triplet, cancellationToken);
            GreylistDecision decision;
            bool written;
            if (entry is null || !TryParse(entry.Value, out var first, out var passed))
            {
                written = await _state.TryPutAsync(_options.TripletPartition, triplet, Format(now, null), entry?.Version, now + _options.RetryWindow, cancellationToken);
                decision = new GreylistDecision(true, GreylistReason.New, _options.Delay, triplet);
            }
            else if (passed is not null)
            {
                written = await _state.TryPutAsync(_options.TripletPartition, triplet, Format(first, now), entry.Version, now + _options.Lifetime, cancellationToken);
                decision = new GreylistDecision(false, GreylistReason.Known, null, triplet);
            }
            else if (now - first < _options.Delay)
            {
                return new GreylistDecision(true, GreylistReason.TooEarly, first + _options.Delay - now, triplet);
            }
            else if (now - first > _options.RetryWindow)
            {
                // The store normally expires these; be explicit in case its clock and ours disagree.
                written = await _state.TryPutAsync(_options.TripletPartition, triplet, Format(now, null), entry.Version, now + _options.RetryWindow, cancellationToken);
                decision = new GreylistDecision(true, GreylistReason.New, _options.Delay, triplet);
            }
            else
            {
                written = await _state.TryPutAsync(_options.TripletPartition, triplet, Format(first, now), entry.Version, now + _options.Lifetime, cancellationToken);
                decision = new GreylistDecision(false, GreylistReason.Retried, null, triplet);
            }
            // A conflict means another edge instance wrote this triplet meanwhile: decide again on its state.
            if (!written && attempt < 3) continue;
            if (!decision.Deferred) await CountSuccessAsync(clientKey, now, cancellationToken);
            return decision;
        }
    }

    /// <summary>Deletes expired entries (the maintenance stage calls this). Note: the store purges every partition.</summary>
    public Task<int> PurgeAsync(CancellationToken cancellationToken = default) => _state.PurgeExpiredAsync(_time.GetUtcNow(), cancellationToken);

    /// <summary>The client network in CIDR form, e.g. "192.0.2.0/24", "2001:db8:1:2::/64".</summary>
    public string NetworkOf(IPAddress client)
    {
        var prefix = client.AddressFamily == AddressFamily.InterNetwork ? _options.Ipv4PrefixLength : _options.Ipv6PrefixLength;
        return new IPNetwork(NetworkPrefix.Mask(client, prefix), prefix).ToString();
    }

    /// <summary>Lower case; "user+ext@d" → "user@d"; BATV "prvs=tag=user@d" → "user@d" (these change on every retry).</summary>
    public static string NormalizeSender(string mailFrom)
    {
        var s = mailFrom.ToLowerInvariant();
        if (s.Length == 0) return "<>";
        var at = s.LastIndexOf('@');
        if (at <= 0) return s;
        var local = s[..at];
        if (local.StartsWith("prvs=", StringComparison.Ordinal) || local.StartsWith("msprvs1=", StringComparison.Ordinal))
        {
            var eq = local.IndexOf('=', local.IndexOf('=', StringComparison.Ordinal) + 1);
            if (eq > 0) local = local[(eq + 1)..];
        }
        var plus = local.IndexOf('+', StringComparison.Ordinal);
        if (plus > 0) local = local[..plus];
        return local + s[at..];
    }

    private bool IsWhitelisted(IPAddress client, string sender, string recipient)
    {
        foreach (var n in _options.WhitelistNetworks)
            if (n.Contains(client)) return true;
        var senderDomain = DomainOf(sender);
        if (senderDomain is not null)
            foreach (var d in _options.WhitelistSenderDomains)
                if (InDomain(senderDomain, d)) return true;
        var recipientDomain = DomainOf(recipient);
        foreach (var r in _options.WhitelistRecipients)
        {
            if (r.Contains('@', StringComparison.Ordinal))
            {
                if (string.Equals(r, recipient, StringComparison.OrdinalIgnoreCase)) return true;
            }
            else if (recipientDomain is not null && InDomain(recipientDomain, r)) return true;
        }
        return false;
    }

    private static string? DomainOf(string address) => Address.TryParse(address, out var a) ? a.Domain : null;

    private static bool InDomain(string domain, string parent)
    {
        var p = parent.Trim().TrimStart('.').ToLowerInvariant();
        return domain == p || domain.EndsWith("." + p, StringComparison.Ordinal);
    }

    private async Task CountSuccessAsync(string clientKey, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (_options.AutoWhitelistAfter == 0) return;
        // Best effort: a lost increment under a write race only delays auto-whitelisting by one delivery.
        var e = await _state.GetAsync(_options.AutoWhitelistPartition, clientKey, cancellationToken);
        var count = e is null ? 0 : ParseCount(e.Value);
        await _state.TryPutAsync(_options.AutoWhitelistPartition, clientKey, (count + 1).ToString(CultureInfo.InvariantCulture), e?.Version, now + _options.Lifetime, cancellationToken);
    }

    private static long ParseCount(string v) => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;

    private static string Format(DateTimeOffset first, DateTimeOffset? passed) =>
        $"{first.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)};{passed?.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}";

    private static bool TryParse(string value, out DateTimeOffset first, out DateTimeOffset? passed)
    {
        first = default;
        passed = null;
        var parts = value.Split(';');
        if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var f)) return false;
        first = DateTimeOffset.FromUnixTimeSeconds(f);
        if (parts[1].Length == 0) return true;
        if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var p)) return false;
        passed = DateTimeOffset.FromUnixTimeSeconds(p);
        return true;
    }
}
