using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Mail.Core.Model;
using Envelope = Mail.Core.Model.Envelope;
using Mail.Outbound.Routing;
using Mail.Outbound.Tls.MtaSts;
using Mail.Outbound.Tls.Dane;
using Mail.Outbound.Tls.Reporting;

namespace Mail.Outbound.Smtp;

/// <summary>The reply for one recipient of one delivery attempt, with the host that gave it.</summary>
public sealed record RecipientReply(Recipient Recipient, RemoteReply Reply);

/// <summary>
/// One delivery attempt of one message to one destination: tries the route's hosts and addresses in order until one
/// takes the transaction (at most MaxMxHosts × MaxAddressesPerHost connections), and reports a reply per recipient.
/// A host that cannot be reached, greets with 4xx, fails TLS or refuses MAIL FROM with 4xx passes the turn to the
/// next; once a host answered the recipients, its replies stand (2xx sent, 5xx bounced, 4xx deferred).
/// Idle connections are kept per address for <see cref="OutboundOptions.ConnectionReuseTime"/> and reused by the next
/// message to the same place (RSET-free: MailKit ends each transaction cleanly).
/// </summary>
internal sealed class SmtpDelivery(OutboundOptions options, string heloName, MtaStsCertificates? mtaSts = null, TlsSessionResults? tlsResults = null) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentBag<(OutboundSmtpClient Client, DateTime IdleSince)>> _idle = new();

    public async Task<IReadOnlyList<RecipientReply>> DeliverAsync(Route route, Envelope envelope, IReadOnlyList<Recipient> recipients, Func<OutgoingMessage> message,
        CancellationToken cancellationToken)
    {
        RemoteReply? last = null;
        foreach (var host in route.Hosts)
        {
            var tls = Effective(route, host);
            if (tls == TlsPolicy.Dane && host.Dane!.LookupFailure is { } daneFailure)
            {
                // RFC 7672 2.2: DNSSEC vouches for this host, so a TLSA answer we cannot get may be an attack: not tried.
                last = SmtpReplies.Local("4.7.5", $"{daneFailure}; {host.Name} is not tried without it", host.Name);
                continue;
            }
            foreach (var address in host.Addresses)
            {
                var endpoint = new IPEndPoint(address, route.Port);
                var where = endpoint.ToString();
                var (client, reused) = await AcquireAsync(host, tls, endpoint, route, cancellationToken);
                if (!reused) RecordTls(route, host, tls, endpoint, recipients, client);
                if (client.Failure is { } failure)
                {
                    last = failure;
                    continue;
                }
                var result = await TransactAsync(client.Client!, host.Name, where, envelope, recipients, message(), cancellationToken);
                if (result.PassTurn && reused)
                {
                    // A kept connection the server had already closed: try once more on a fresh one.
                    (client, _) = await AcquireAsync(host, tls, endpoint, route, cancellationToken, fresh: true);
                    RecordTls(route, host, tls, endpoint, recipients, client);
                    if (client.Failure is { } again)
                    {
                        last = again;
                        continue;
                    }
                    result = await TransactAsync(client.Client!, host.Name, where, envelope, recipients, message(), cancellationToken);
                }
                if (result.PassTurn)
                {
                    last = result.Failure;
                    await DropAsync(client.Client!);
                    continue;
                }
                if (client.Client!.IsConnected) Release(Key(endpoint, route, host, tls), client.Client);
                else await DropAsync(client.Client);
                return result.Replies!;
            }
        }
        var reply = last ?? SmtpReplies.Local("4.4.1", "no host to connect to");
        // Only a server's own 5xx (greeting or MAIL FROM) bounces; anything we concluded ourselves defers.
        return recipients.Select(r => new RecipientReply(r, reply)).ToList();
    }

    private sealed record Transaction(bool PassTurn, RemoteReply? Failure, IReadOnlyList<RecipientReply>? Replies);

    /// <param name="TlsFailure">When TLS under a policy failed: the RFC 8460 4.3 result type (for TLS-RPT).</param>
    private sealed record Connected(OutboundSmtpClient? Client, RemoteReply? Failure, string? TlsFailure = null);

    /// <summary>
    /// TLS-RPT (RFC 8460): one new connection to a host under a DANE (usable TLSA) or MTA-STS (enforce or testing) policy
    /// is one session, a success when TLS was set up and verified, else a failure with its result type. Connections that
    /// failed before TLS (refused, timed out) are not TLS sessions and are not counted.
    /// </summary>
    private void RecordTls(Route route, MxHost host, TlsPolicy tls, IPEndPoint endpoint, IReadOnlyList<Recipient> recipients, Connected connected)
    {
        if (tlsResults is null || recipients.Count == 0) return;
        var domain = OutboundStage.DomainOf(recipients[0].Address);
        TlsRptPolicyType type;
        IReadOnlyList<string> strings;
        if (tls == TlsPolicy.Dane && host.Dane is { LookupFailure: null } dane)
            (type, strings) = (TlsRptPolicyType.Tlsa, dane.Tlsa.Select(t => t.ToString()).ToList());
        else if (route.MtaSts is { } sts)
            (type, strings) = (TlsRptPolicyType.Sts, sts.PolicyStrings ?? []);
        else return;
        string? result;
        if (connected.Client is { } client) result = client.IsSecure ? null : "starttls-not-supported";
        else if (connected.TlsFailure is { } failure) result = failure;
        else return;
        tlsResults.Record(domain, type, strings, host.Name, endpoint.Address.ToString(), connected.Client?.LocalAddress, result);
    }

    private async Task<Transaction> TransactAsync(OutboundSmtpClient client, string host, string where, Envelope envelope, IReadOnlyList<Recipient> recipients,
        OutgoingMessage message, CancellationToken cancellationToken)
    {
        if (client.MaxSize > 0 && (ulong)message.Size > (ulong)client.MaxSize)
        {
            // RFC 1870: the server said it will refuse it; sending would only waste both sides' time.
            var tooBig = new RemoteReply(552, "5.3.4", $"Message size exceeds fixed limit (message {message.Size} octets, {host} accepts {client.MaxSize})", host, where);
            return new Transaction(false, null, recipients.Select(r => new RecipientReply(r, tooBig)).ToList());
        }
        string? finalText = null;
        SmtpCommandException? commandFailure = null;
        try
        {
            finalText = await client.SendTransactionAsync(envelope, recipients, message, cancellationToken);
        }
        catch (SmtpCommandException e)
        {
            commandFailure = e;
        }
        catch (Exception e) when (e is IOException or SmtpProtocolException or SocketException or ServiceNotConnectedException or TimeoutException or OperationCanceledException
                                       && !cancellationToken.IsCancellationRequested)
        {
            // Lost mid-transaction (a disconnect after DATA, a timeout, garbage): nothing is known, so every recipient is
            // tried again later. A server that did take the message may get it twice; RFC 5321 6.1 prefers that to loss.
            var lost = client.Failure(e, host, where);
            if (client.RecipientReplies.Count == 0 && client.SenderRefused is null) return new Transaction(true, lost, null);
            return new Transaction(false, null, recipients.Select(r => new RecipientReply(r,
                client.RecipientReplies.TryGetValue(r.Address, out var rr) && !rr.IsPositive() ? SmtpReplies.FromServer((int)rr.StatusCode, rr.Response, host, where) : lost)).ToList());
        }

        if (client.SenderRefused is { } refused)
        {
            var reply = SmtpReplies.FromServer((int)refused.StatusCode, refused.Response, host, where);
            // A 4xx to MAIL FROM is this host's trouble; another MX may take it.
            if (!reply.IsPermanent()) return new Transaction(true, reply, null);
            return new Transaction(false, null, recipients.Select(r => new RecipientReply(r, reply)).ToList());
        }
        var replies = new List<RecipientReply>(recipients.Count);
        RemoteReply? dataReply = null;
        if (commandFailure is null) dataReply = SmtpReplies.FromServer(250, finalText ?? "Ok", host, where);
        else if (client.RecipientReplies.Values.Any(r => r.IsPositive()))
            dataReply = SmtpReplies.FromServer((int)commandFailure.StatusCode, commandFailure.Message, host, where);
        foreach (var r in recipients)
        {
            if (!client.RecipientReplies.TryGetValue(r.Address, out var rcpt))
            {
                replies.Add(new RecipientReply(r, dataReply ?? SmtpReplies.FromServer((int)(commandFailure?.StatusCode ?? SmtpStatusCode.TransactionFailed), commandFailure?.Message ?? "no reply", host, where)));
                continue;
            }
            replies.Add(new RecipientReply(r, !rcpt.IsPositive()
                ? SmtpReplies.FromServer((int)rcpt.StatusCode, rcpt.Response, host, where)
                : dataReply!));
        }
        return new Transaction(false, null, replies);
    }

    /// <summary>
    /// The TLS requirement toward one host of the route. <see cref="TlsPolicy.Dane"/> holds only for a host with
    /// usable DNSSEC-validated TLSA records; validated TLSA records that are all unusable still make TLS mandatory with
    /// any certificate (RFC 7672 3.1.3, 2.2); a host without them gets the <see cref="TlsPolicy.MtaSts"/> behaviour.
    /// </summary>
    internal static TlsPolicy Effective(Route route, MxHost host) => route.Tls switch
    {
        TlsPolicy.Dane when host.Dane is { } dane => dane.LookupFailure is not null || dane.HasUsable ? TlsPolicy.Dane : TlsPolicy.Encrypt,
        TlsPolicy.Dane => Effective(route with { Tls = TlsPolicy.MtaSts }, host),
        // MTA-STS "enforce" requires STARTTLS (the certificate is checked in ConnectAsync); "testing" and no policy are May.
        TlsPolicy.MtaSts => route.MtaSts is { Mode: MtaStsMode.Enforce } ? TlsPolicy.MtaSts : TlsPolicy.May,
        var policy => policy,
    };

    // A kept connection was set up under one TLS requirement (for DANE, verified against one TLSA set; for MTA-STS, for
    // one MX name and policy mode): only the same may reuse it.
    private static string Key(IPEndPoint endpoint, Route route, MxHost host, TlsPolicy tls) =>
        $"{endpoint}|{tls}|{route.Relay}|{(tls == TlsPolicy.Dane ? host.Dane!.Key : "")}|{(route.MtaSts is { } sts ? $"{host.Name}|{sts.Mode}" : "")}";

    private async Task<(Connected, bool Reused)> AcquireAsync(MxHost mx, TlsPolicy tls, IPEndPoint endpoint, Route route, CancellationToken cancellationToken, bool fresh = false)
    {
        var host = mx.Name;
        if (!fresh && _idle.TryGetValue(Key(endpoint, route, mx, tls), out var bag))
        {
            while (bag.TryTake(out var idle))
            {
                if (idle.Client.IsConnected && DateTime.UtcNow - idle.IdleSince < options.ConnectionReuseTime) return (new Connected(idle.Client, null), true);
                await DropAsync(idle.Client);
            }
        }
        var dane = tls == TlsPolicy.Dane ? mx.Dane : null;
        var connected = await ConnectAsync(host, endpoint, route, dane, tls switch
        {
            TlsPolicy.None => SecureSocketOptions.None,
            TlsPolicy.May => SecureSocketOptions.StartTlsWhenAvailable,
            _ => SecureSocketOptions.StartTls,
        }, cancellationToken);
        if (connected.Failure is { Code: 0, EnhancedCode: "4.7.5" } && tls == TlsPolicy.May)
        {
            // Postfix "may": a failed handshake falls back to plaintext on a new connection.
            connected = await ConnectAsync(host, endpoint, route, null, SecureSocketOptions.None, cancellationToken);
        }
        return (connected, false);
    }

    private async Task<Connected> ConnectAsync(string host, IPEndPoint endpoint, Route route, DaneHost? dane, SecureSocketOptions security, CancellationToken cancellationToken)
    {
        var where = endpoint.ToString();
        // Returned inside Connected (the pool owns it from then on) or disposed on the failure paths below.
#pragma warning disable CA2000
        var client = new OutboundSmtpClient(options.Timeouts)
#pragma warning restore CA2000
        {
            LocalDomain = heloName,
            CheckCertificateRevocation = false,
        };
        // Opportunistic and "encrypt" TLS to MX hosts accept any certificate (Postfix may/encrypt); a relay host's
        // (TLS required) is verified unless the operator said otherwise.
        // DANE: the certificate must match the host's TLSA records instead (RFC 7672 3.1); MTA-STS: it must chain to a
        // trusted root and name the MX host (RFC 8461 4.2).
        var daneCheck = dane is null ? null : new DaneCertificateCheck(dane);
        string? refused = null;
#pragma warning disable CA5359 // Postfix "may" and "encrypt": TLS against passive eavesdropping, no authentication of the MX (DANE/MTA-STS do that).
        if (daneCheck is not null) client.ServerCertificateValidationCallback = daneCheck.Validate;
        else if (route.MtaSts is { } sts && mtaSts is not null) client.ServerCertificateValidationCallback = mtaSts.CallbackFor(sts, host, r => refused = r);
        else if (!(route.Relay && route.Tls == TlsPolicy.Encrypt) || options.RelayTlsAcceptAnyCertificate) client.ServerCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        // MailKit's client owns the socket once ConnectAsync(socket, ...) is called; before that the catch disposes it.
#pragma warning disable CA2000
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
#pragma warning restore CA2000
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(endpoint, timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"connect to {host}[{where}]: timed out after {options.ConnectTimeout.TotalSeconds:0} s");
                }
            }
            client.LocalAddress = (socket.LocalEndPoint as IPEndPoint)?.Address.ToString();
            await client.ConnectAsync(socket, host, endpoint.Port, security, cancellationToken);
            if (route.MtaSts is { Mode: MtaStsMode.Testing } testing && !client.IsSecure) mtaSts?.Plaintext(testing, host, where);
            if (route.Relay && !string.IsNullOrEmpty(options.RelayUser))
                await client.AuthenticateAsync(options.RelayUser, options.RelayPassword ?? "", cancellationToken);
            return new Connected(client, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled (shutdown): nothing to report for the recipients, but the connection is still ours to close.
            socket.Dispose();
            client.Dispose();
            throw;
        }
        catch (Exception e)
        {
            socket.Dispose();
            client.Dispose();
            // RFC 8460 4.3 result types, for TLS-RPT.
            var tlsFailure = e switch
            {
                NotSupportedException => "starttls-not-supported",
                SslHandshakeException when daneCheck?.Failure is not null => "tlsa-invalid",
                SslHandshakeException when refused is not null => refused.Contains("not valid for that name", StringComparison.Ordinal) ? "certificate-host-mismatch"
                    : refused.Contains("expired", StringComparison.OrdinalIgnoreCase) ? "certificate-expired" : "certificate-not-trusted",
                SslHandshakeException => "validation-failure",
                _ => null,
            };
            return new Connected(null, e switch
            {
                SmtpCommandException c => SmtpReplies.FromServer((int)c.StatusCode, c.Message, host, where),
                AuthenticationException a => SmtpReplies.Local("4.7.0", $"SASL authentication with {host}[{where}] failed: {a.Message}", host, where),
                SslHandshakeException s => SmtpReplies.Local("4.7.5", daneCheck?.Failure is { } f ? $"TLS handshake with {host}[{where}] failed: DANE: {f}"
                    : refused is null ? $"TLS handshake with {host}[{where}] failed: {s.Message}" : $"TLS with {host}[{where}] refused: {refused}", host, where),
                NotSupportedException n => SmtpReplies.Local("4.7.4", $"TLS is required{(route.MtaSts is { } p ? $" by the MTA-STS policy of {p.Domain}" : "")}, but was not offered by host {host}[{where}]", host, where),
                _ when client.ConversationStarted => client.Failure(e, host, where),
                SocketException s => SmtpReplies.Local("4.4.1", $"connect to {host}[{where}]: {s.Message}", host, where),
                TimeoutException t => SmtpReplies.Local("4.4.1", t.Message, host, where),
                _ => SmtpReplies.Local("4.4.2", $"conversation with {host}[{where}] failed: {e.Message}", host, where),
            }, tlsFailure);
        }
    }

    private void Release(string key, OutboundSmtpClient client) =>
        _idle.GetOrAdd(key, _ => []).Add((client, DateTime.UtcNow));

    private static async Task DropAsync(OutboundSmtpClient client)
    {
        try
        {
            using var quitTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            if (client.IsConnected) await client.DisconnectAsync(quit: true, quitTimeout.Token);
        }
        catch (Exception)
        {
            // Closing anyway.
        }
        client.Dispose();
    }

    /// <summary>Closes idle connections older than the reuse time (called between polls).</summary>
    public async Task TrimAsync()
    {
        foreach (var bag in _idle.Values)
        {
            var keep = new List<(OutboundSmtpClient, DateTime)>();
            while (bag.TryTake(out var idle))
            {
                if (idle.Client.IsConnected && DateTime.UtcNow - idle.IdleSince < options.ConnectionReuseTime) keep.Add(idle);
                else await DropAsync(idle.Client);
            }
            foreach (var k in keep) bag.Add(k);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var bag in _idle.Values)
            while (bag.TryTake(out var idle)) await DropAsync(idle.Client);
    }
}
