using System.IO.Pipelines;
using System.Net.Sockets;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// What happens between accept and the 220 greeting: connection rate limit, reverse DNS, pregreet test.
internal sealed partial class SmtpSession
{
    /// <summary>
    /// Everything up to and including the 220 greeting: connection rate limit, reverse DNS, pregreet test, the policy's
    /// connect hook. False when the session must end (the reply, if any, is written).
    /// </summary>
    private async ValueTask<bool> GreetAsync()
    {
        var client = Facts.ClientEndPoint.Address;
        if (_rateLimiter is not null && !Facts.InMyNetworks && await _rateLimiter.CountAsync(RateEvent.Connection, client) is { } refusal)
        {
            _logger.LogInformation("Session {SessionId}: {Refusal}", Facts.SessionId, refusal);
            _reply.Write(_hostReplies.ConnectionRefused(refusal));
            return false;
        }
        var reverse = _services.Dns is { } dns ? ReverseDnsAsync(dns) : null;
        var pregreet = _listener.PregreetDelay > TimeSpan.Zero && !Facts.InMyNetworks;
        if (pregreet && !_listener.PregreetBanner)
        {
            // The DNS lookups run while the pregreet test waits: a legitimate client pays for the slower of the two only.
            if (!await PregreetAsync(_listener.PregreetDelay)) return false;
        }
        if (reverse is not null)
        {
            var (result, name) = await reverse;
            Facts.ConnectionResultMap["fcrdns"] = result;
            Facts.ReverseName = name;
        }
        // Before the 220 the client must be silent; anything already in the socket buffer was sent ahead of time.
        // (Plaintext only: under implicit TLS the buffer holds TLS records, not necessarily commands.)
        var plaintext = ReferenceEquals(_stream, _network);
        if (plaintext) Facts.TalkedBeforeGreeting = TalkedBeforeGreeting;
        if (_services.Policy is { } policy)
        {
            var verdict = await policy.OnConnectAsync(Facts, _aborted.Token);
            if (verdict.Action == SmtpPolicyAction.Reject)
            {
                _reply.Write(verdict.Code, null, verdict.Text);
                return false;
            }
            _sessionDecisions = Record(Facts.ConnectionResultMap, _sessionDecisions, verdict);
        }
        if (pregreet && _listener.PregreetBanner)
        {
            // Postscreen's multi-line greeting trick: "220-" first, so a bot that answers the first line it sees
            // talks before the greeting is complete. Written only after the policy agreed, so the final line is a 220 too.
            _reply.Write(_hostReplies.GreetingBanner);
            await _reply.FlushAsync();
            if (!await PregreetAsync(_listener.PregreetDelay)) return false;
        }
        Facts.TalkedBeforeGreeting = null;
        if (plaintext && !Facts.Pipelined && TalkedBeforeGreeting())
        {
            Facts.Pipelined = true;
            _logger.LogInformation("Session {SessionId}: {Client} talked before the greeting", Facts.SessionId, Facts.ClientEndPoint);
        }
        _reply.Write(_hostReplies.Greeting);
        return true;
    }

    private bool TalkedBeforeGreeting()
    {
        try
        {
            return _socket.Available > 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private async Task<(string Result, string? Name)> ReverseDnsAsync(Mail.Core.Ports.IDnsResolver dns)
    {
        using var timeout = new CancellationTokenSource(_options.ReverseDnsTimeout, _services.Time);
        try
        {
            return await ReverseDns.CheckAsync(dns, Facts.ClientEndPoint.Address, timeout.Token).WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return ("temperror", null);
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Session {SessionId}: reverse DNS check failed", Facts.SessionId);
            return ("temperror", null);
        }
    }

    /// <summary>
    /// Waits <paramref name="delay"/> for the client to stay quiet (RFC 5321 3.1: the client waits for the greeting).
    /// A client that sends anything first is a spambot speaking blind (postscreen's PREGREET): 554 and close.
    /// </summary>
    private async ValueTask<bool> PregreetAsync(TimeSpan delay)
    {
        var deadline = _services.Time.GetTimestamp();
        while (true)
        {
            var left = delay - _services.Time.GetElapsedTime(deadline);
            if (left <= TimeSpan.Zero) return true;
            var result = await ReadWithTimerAsync(left);
            if (result.Buffer.Length > 0)
            {
                _logger.LogInformation("Session {SessionId}: PREGREET {Octets} octets from {Client}", Facts.SessionId, result.Buffer.Length, Facts.ClientEndPoint);
                _reader.AdvanceTo(result.Buffer.End);
                _reply.Write(_hostReplies.Pregreet);
                return false;
            }
            _reader.AdvanceTo(result.Buffer.Start);
            if (_stopping)
            {
                ShutdownReply();
                return false;
            }
            if (result.IsCompleted) return false;
            if (result.IsCanceled && _timedOut) return true;
        }
    }
}
