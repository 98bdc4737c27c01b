using Mail.Core.Tls;
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Text;
using Mail.Core.Listening;
using Mail.Core.Model;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

/// <summary>
/// One SMTP connection: the RFC 5321 state machine. Reads commands from a <see cref="PipeReader"/>,
/// answers through <see cref="SmtpReplyWriter"/>, streams DATA/BDAT into the message store and queues
/// the envelope before it says 250. Everything the session writes happens on its own task, including
/// the 421 on timeout or shutdown (those only interrupt the pending read).
/// </summary>
internal sealed partial class SmtpSession : ISmtpInput
{
    private readonly SmtpServerOptions _options;
    private readonly SmtpServices _services;
    private readonly SmtpListenerOptions _listener;
    private readonly ServerCertificate? _certificate;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITimer _timer;

    private Stream _stream;
    private PipeReader _reader = null!;
    private PipeWriter _writer = null!;
    private SmtpReplyWriter _reply = null!;
    private DataReader? _dataReader;

    private volatile bool _stopping;
    private volatile bool _timerArmed;
    private volatile bool _timedOut;
    private bool _needMore;
    private long _lineStartedAt;
    private bool _skippingLongLine;
    private bool _heloSeen;
    private readonly SessionLimits _limits;
    private readonly RateLimiter? _rateLimiter;
    private readonly RecipientDirectory _recipients;
    private readonly RecipientQuota? _quota;
    private SmtpTransaction? _tx;

    /// <param name="client">The client as the server admitted it: the socket's peer, or on a PROXY protocol listener the
    /// address the proxy relayed. Every check (Received:, SPF, FCrDNS, DNSBL, greylisting, limits, mynetworks) and
    /// every log line reads it from <see cref="Facts"/>, never from the socket.</param>
    /// <param name="local">Our endpoint as the client reached it (the proxy's front end when proxied).</param>
    public SmtpSession(Socket socket, IPEndPoint client, IPEndPoint local, SmtpListenerOptions listener, SmtpServerOptions options, SmtpServices services,
        ServerCertificate? certificate, ILogger logger, string sessionId, ClientNetworks myNetworks, RateLimiter? rateLimiter, RecipientDirectory recipients, RecipientQuota? quota = null)
    {
        _quota = quota;
        _rateLimiter = rateLimiter;
        _recipients = recipients;
        _socket = socket;
        _listener = listener;
        _options = options;
        _services = services;
        _certificate = certificate;
        _logger = logger;
        _limits = new SessionLimits(options.MaxErrors, options.MaxCommandsBeforeMail);
        _network = new NetworkStream(socket, ownsSocket: true);
        _stream = _network;
        Facts = new SmtpSessionFacts(sessionId, Normalize(client), local, listener);
        Facts.InMyNetworks = myNetworks.Contains(Facts.ClientEndPoint.Address);
        _timer = services.Time.CreateTimer(static s => ((SmtpSession)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public SmtpSessionFacts Facts { get; }

    /// <summary>Completes when the connection is closed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Asks the session to send "421 4.3.2" and close at its next read (or now, if it is waiting for one).</summary>
    public void RequestStop()
    {
        _stopping = true;
        try
        {
            _reader?.CancelPendingRead();
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Last resort when a graceful stop takes too long.</summary>
    public void Abort()
    {
        try
        {
            _socket.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async Task RunAsync()
    {
        try
        {
            _logger.LogDebug("Session {SessionId}: connect from {Client} on {Listener}", Facts.SessionId, Facts.ClientEndPoint, _listener.Name);
            if (_listener.ImplicitTls && !await HandshakeAsync()) return;
            CreatePipes();
            if (_stopping)
            {
                _reply.Write(421, "4.3.2", $"{_options.HostName} Service shutting down");
                return;
            }
            if (!await GreetAsync()) return;
            while (true)
            {
                var command = await ReadCommandAsync();
                if (command is null) break;
                if (!await DispatchAsync(command.Value)) break;
                if (_limits.TooManyErrors)
                {
                    _reply.Write(421, "4.7.0", $"{_options.HostName} Too many errors, closing connection");
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            _logger.LogDebug(ex, "Session {SessionId} ended: {Message}", Facts.SessionId, ex.Message);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Session {SessionId} failed", Facts.SessionId);
            try
            {
                _reply?.Write(421, "4.3.0", $"{_options.HostName} Local error, closing connection");
            }
            catch (InvalidOperationException)
            {
            }
        }
        finally
        {
            await CloseAsync();
            _completion.TrySetResult();
        }
    }

    private void CreatePipes()
    {
        // Zero-byte reads: an idle connection holds no buffer (5,000 idle clients cost sockets, not memory); only
        // between transactions, where a client may stay silent (WaitForDataStream). 16 KiB segments: a message's
        // data arrives in one read rather than several (4 KiB segments took two or more reads per 4 KB message; the
        // edge's rate went up 0–14% in four alternating pairs); a session holds one only inside a transaction.
        var input = new WaitForDataStream(_stream, () => _tx is null);
        _reader = PipeReader.Create(input, new StreamPipeReaderOptions(bufferSize: 16384, minimumReadSize: 4096, leaveOpen: true, useZeroByteReads: true));
        _writer = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 1024, leaveOpen: true));
        _reply = new SmtpReplyWriter(_writer);
    }

    private async Task CloseAsync()
    {
        _timer.Dispose();
        if (_tx is not null) await _tx.DiscardAsync();
        try
        {
            if (_reply is not null) await _reply.FlushAsync();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
        try
        {
            if (_reader is not null) await _reader.CompleteAsync();
            if (_writer is not null) await _writer.CompleteAsync();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        await _stream.DisposeAsync();
        _socket.Dispose();
    }

    // ---- reading ----------------------------------------------------------------------------

    private void OnTimer()
    {
        if (!_timerArmed) return;
        _timedOut = true;
        try
        {
            _reader?.CancelPendingRead();
        }
        catch (InvalidOperationException)
        {
        }
    }

    PipeReader ISmtpInput.Reader => _reader;

    /// <summary>Reads with a timeout; null when the session must end (timeout or shutdown: the 421 is already written).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ReadResult?> ReadAsync(TimeSpan timeout)
    {
        while (true)
        {
            if (_stopping) return ShutdownReply();
            var result = await ReadWithTimerAsync(timeout);
            if (!result.IsCanceled) return result;
            _reader.AdvanceTo(result.Buffer.Start);
            if (_stopping) return ShutdownReply();
            if (_timedOut)
            {
                _reply.Write(421, "4.4.2", $"{_options.HostName} Error: timeout exceeded");
                return null;
            }
            // A cancellation meant for an earlier read: read again.
        }
    }

    /// <summary>One read that <see cref="OnTimer"/> cancels (setting <c>_timedOut</c>) when <paramref name="timeout"/> passes.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadWithTimerAsync(TimeSpan timeout)
    {
        _timedOut = false;
        _timerArmed = true;
        _timer.Change(timeout, Timeout.InfiniteTimeSpan);
        try
        {
            return await _reader.ReadAsync();
        }
        finally
        {
            _timerArmed = false;
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private ReadResult? ShutdownReply()
    {
        _reply.Write(421, "4.3.2", $"{_options.HostName} Service shutting down");
        return null;
    }

    private int LineLimit(in ReadOnlySequence<byte> line, bool raw) =>
        raw || SmtpCommandParser.IsParameterCommand(line) ? _options.MaxCommandLineLength + _options.ParameterLineAllowance : _options.MaxCommandLineLength;

    /// <summary>Next command line, or null when the connection ended. Replies are flushed only when no more input is buffered (RFC 2920).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<SmtpCommand?> ReadCommandAsync(bool raw = false)
    {
        while (true)
        {
            ReadResult result = default;
            var have = false;
            if (!_needMore && _reader.TryRead(out result))
            {
                if (result.IsCanceled || (result.Buffer.IsEmpty && !result.IsCompleted)) _reader.AdvanceTo(result.Buffer.Start);
                else have = true;
            }
            if (!have)
            {
                await _reply.FlushAsync();
                // Idle: nothing of the next command yet. Partial: a command line has begun and must be complete within
                // CommandTimeout of its first octet (a client dripping one octet at a time gets no extra time).
                TimeSpan timeout;
                if (_needMore || _skippingLongLine)
                {
                    var now = _services.Time.GetTimestamp();
                    if (_lineStartedAt == 0) _lineStartedAt = now;
                    timeout = _options.CommandTimeout - _services.Time.GetElapsedTime(_lineStartedAt, now);
                    if (timeout <= TimeSpan.Zero) timeout = TimeSpan.FromTicks(1);
                }
                else
                {
                    _lineStartedAt = 0;
                    timeout = _options.IdleTimeout;
                }
                var r = await ReadAsync(timeout);
                if (r is null) return null;
                result = r.Value;
            }
            _needMore = false;
            var buffer = result.Buffer;
            if (SmtpCommandParser.TryReadLine(buffer, out var line, out var next) == LineStatus.Complete)
            {
                SmtpCommand command;
                if (_skippingLongLine)
                {
                    _skippingLongLine = false;
                    command = new SmtpCommand(SmtpVerb.Invalid, null, "Line too long");
                }
                else if (line.Length + 1 > LineLimit(line, raw)) command = new SmtpCommand(SmtpVerb.Invalid, null, "Line too long");
                else command = raw ? SmtpCommandParser.ParseRaw(line) : SmtpCommandParser.Parse(line);
                if (!raw && !Facts.Pipelined && !buffer.Slice(next).IsEmpty && IsImproperPipelining(command.Verb))
                {
                    Facts.Pipelined = true;
                    _logger.LogInformation("Session {SessionId}: improper command pipelining after {Verb} from {Client}", Facts.SessionId, command.Verb, Facts.ClientEndPoint);
                }
                _reader.AdvanceTo(next);
                _lineStartedAt = 0;
                return command;
            }
            if (result.IsCompleted)
            {
                _reader.AdvanceTo(buffer.End);
                return null;
            }
            if (_skippingLongLine || buffer.Length >= LineLimit(buffer, raw))
            {
                // Too long already: drop what we have and the rest of the line, answer once the line ends.
                _skippingLongLine = true;
                _reader.AdvanceTo(buffer.End);
            }
            else _reader.AdvanceTo(buffer.Start, buffer.End);
            _needMore = true;
        }
    }

    /// <summary>
    /// Postfix's improper pipelining (reject_unauth_pipelining): more input was already waiting when a command was read,
    /// and either the client has not been told PIPELINING (no EHLO answered yet, or HELO) or the command must end a
    /// group (RFC 2920 3.1: EHLO, DATA, VRFY, EXPN, NOOP; RFC 3207: STARTTLS) — e.g. message data sent before the 354.
    /// </summary>
    private bool IsImproperPipelining(SmtpVerb verb) =>
        !Facts.Esmtp || verb is SmtpVerb.Ehlo or SmtpVerb.Helo or SmtpVerb.Data or SmtpVerb.Vrfy or SmtpVerb.Expn or SmtpVerb.Noop or SmtpVerb.StartTls;

    // ---- commands ---------------------------------------------------------------------------

    private void Reply(int code, string enhancedCode, string text)
    {
        _reply.Write(code, enhancedCode, text);
        if (code >= 400) _limits.CountError();
    }

    /// <summary>Keeps what a policy asked to record with the message (see <see cref="SmtpPolicyResult.Results"/>).</summary>
    private static void Record(Dictionary<string, string> into, in SmtpPolicyResult verdict)
    {
        if (verdict.Results is null) return;
        foreach (var (key, value) in verdict.Results) into[key] = value;
    }

    private void Reply(in SmtpPolicyResult verdict)
    {
        // Every policy verdict written here is a refusal (restriction lists, DNSBL, greylisting, policy service).
        Mail.Core.Telemetry.MailTelemetry.Reject(Mail.Core.Telemetry.RejectReason.Policy);
        _reply.Write(verdict.Code, verdict.EnhancedCode.Length > 0 ? verdict.EnhancedCode : null, verdict.Text);
        _limits.CountError();
    }

    /// <summary>Handles one command; false when the connection must close.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> DispatchAsync(SmtpCommand command)
    {
        if (_tx is null && command.Verb is not (SmtpVerb.Mail or SmtpVerb.Quit) && !_limits.CountCommandWithoutMail())
        {
            _reply.Write(421, "4.7.0", $"{_options.HostName} Too many commands without a mail transaction, closing connection");
            return false;
        }
        switch (command.Verb)
        {
            case SmtpVerb.Invalid:
                Reply(500, "5.5.2", command.Error ?? "Syntax error");
                return true;
            case SmtpVerb.Unknown:
                Reply(500, "5.5.2", "Command not recognized");
                return true;
            case SmtpVerb.Ehlo:
                return await HeloAsync(command.Argument, esmtp: true);
            case SmtpVerb.Helo:
                return await HeloAsync(command.Argument, esmtp: false);
            case SmtpVerb.Mail:
                return await MailAsync(command.Argument ?? "");
            case SmtpVerb.Rcpt:
                return await RcptAsync(command.Argument ?? "");
            case SmtpVerb.Data:
                return await DataAsync(command.Argument);
            case SmtpVerb.Bdat:
                return await BdatAsync(command.Argument ?? "");
            case SmtpVerb.Rset:
                if (command.Argument is not null)
                {
                    Reply(501, "5.5.4", "Syntax: RSET");
                    return true;
                }
                await ResetTransactionAsync();
                Reply(250, "2.0.0", "Ok");
                return true;
            case SmtpVerb.Noop:
                Reply(250, "2.0.0", "Ok");
                return true;
            case SmtpVerb.Quit:
                _reply.Write(221, "2.0.0", $"{_options.HostName} Bye");
                return false;
            case SmtpVerb.Vrfy:
                if (string.IsNullOrWhiteSpace(command.Argument)) Reply(501, "5.5.4", "Syntax: VRFY address");
                else Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
                return true;
            case SmtpVerb.Expn:
                Reply(502, "5.5.1", "EXPN not available");
                return true;
            case SmtpVerb.Help:
                Reply(214, "2.0.0", "Commands: EHLO HELO AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS; see RFC 5321");
                return true;
            case SmtpVerb.Auth:
                return await AuthAsync(command.Argument);
            case SmtpVerb.StartTls:
                return await StartTlsAsync(command.Argument);
            default:
                Reply(500, "5.5.2", "Command not recognized");
                return true;
        }
    }

    private async ValueTask ResetTransactionAsync()
    {
        if (_tx is not null) await _tx.DiscardAsync();
        _tx = null;
        Facts.MailFrom = null;
        Facts.MailFromParameters = null;
        Facts.RecipientList.Clear();
    }

    private async ValueTask<bool> HeloAsync(string? argument, bool esmtp)
    {
        var name = argument?.Trim().Split(' ', 2)[0] ?? "";
        if (name.Length == 0)
        {
            Reply(501, "5.5.4", esmtp ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
            return true;
        }
        await ResetTransactionAsync();
        Facts.Helo = name;
        Facts.Esmtp = esmtp;
        _heloSeen = true;
        if (_services.Policy is { } policy)
        {
            var verdict = await policy.OnHeloAsync(Facts, CancellationToken.None);
            if (verdict.Action == SmtpPolicyAction.Reject)
            {
                _heloSeen = false;
                Facts.Helo = null;
                Reply(verdict);
                return verdict.Code != 421;
            }
            Record(Facts.ConnectionResultMap, verdict);
        }
        var greeting = $"{_options.HostName} Hello {name} [{Facts.ClientEndPoint.Address}]";
        if (!esmtp)
        {
            // RFC 2034 section 3: replies to HELO/EHLO carry no enhanced status code.
            _reply.Write(250, null, greeting);
            return true;
        }
        _reply.Write(250, null, greeting, last: false);
        _reply.Write(250, null, "PIPELINING", last: false);
        _reply.Write(250, null, $"SIZE {_options.MaxMessageSize}", last: false);
        _reply.Write(250, null, "8BITMIME", last: false);
        _reply.Write(250, null, "SMTPUTF8", last: false);
        _reply.Write(250, null, "ENHANCEDSTATUSCODES", last: false);
        _reply.Write(250, null, "CHUNKING", last: false);
        if (_certificate is not null && Facts.Tls is null) _reply.Write(250, null, "STARTTLS", last: false);
        if (AuthOffered) _reply.Write(250, null, "AUTH PLAIN LOGIN", last: false);
        _reply.Write(250, null, "DSN");
        return true;
    }

    private async ValueTask<bool> StartTlsAsync(string? argument)
    {
        if (_certificate is null)
        {
            Reply(502, "5.5.1", "STARTTLS not available");
            return true;
        }
        if (Facts.Tls is not null)
        {
            Reply(503, "5.5.1", "TLS already active");
            return true;
        }
        if (argument is not null)
        {
            Reply(501, "5.5.4", "Syntax: STARTTLS");
            return true;
        }
        _reply.Write(220, "2.0.0", "Ready to start TLS");
        await _reply.FlushAsync();
        // RFC 3207 section 4.2 / CVE-2011-0411: anything the client pipelined after STARTTLS arrived in the clear
        // and must not be executed in the TLS session: throw it away with the plaintext pipes.
        if (_reader.TryRead(out var pending))
        {
            if (pending.Buffer.Length > 0)
                _logger.LogInformation("Session {SessionId}: discarded {Octets} octets pipelined after STARTTLS", Facts.SessionId, pending.Buffer.Length);
            _reader.AdvanceTo(pending.Buffer.End);
        }
        await _reader.CompleteAsync();
        await _writer.CompleteAsync();
        _reader = null!;
        if (!await HandshakeAsync()) return false;
        CreatePipes();
        // RFC 3207 section 4.2: forget everything learned before TLS; the client starts again with EHLO.
        await ResetTransactionAsync();
        _heloSeen = false;
        Facts.Helo = null;
        Facts.Esmtp = false;
        Facts.AuthenticatedUser = null;
        _limits.ResetCommandsWithoutMail();
        return true;
    }

    private async ValueTask<bool> HandshakeAsync()
    {
        var ssl = new SslStream(_network, leaveInnerStreamOpen: true);
        using var timeout = new CancellationTokenSource(_options.CommandTimeout, _services.Time);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                // Read now, not when the session began: a certificate renewed meanwhile is the one presented.
                ServerCertificateContext = _certificate!.Context,
                ClientCertificateRequired = false,
            }, timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            _logger.LogDebug(ex, "Session {SessionId}: TLS handshake failed", Facts.SessionId);
            await ssl.DisposeAsync();
            return false;
        }
        _stream = ssl;
        Facts.Tls = new TlsInfo(ProtocolName(ssl.SslProtocol), ssl.NegotiatedCipherSuite.ToString());
        return true;
    }

    private static string ProtocolName(SslProtocols p) => p switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => p.ToString(),
    };

    private static IPEndPoint Normalize(IPEndPoint ep) => ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;

    internal ClientInfo ClientInfo(bool smtpUtf8)
    {
        var protocol = (Facts.Esmtp, smtpUtf8) switch
        {
            (_, true) => "UTF8SMTP",
            (true, false) => "ESMTP",
            _ => "SMTP",
        };
        // RFC 3848: S for TLS, A for an authenticated client (ESMTPSA).
        if (Facts.Tls is not null) protocol += "S";
        if (Facts.AuthenticatedUser is not null) protocol += "A";
        return new ClientInfo
        {
            Address = Facts.ClientEndPoint.Address.ToString(),
            Port = Facts.ClientEndPoint.Port,
            Helo = Facts.Helo ?? "",
            Protocol = protocol,
            Tls = Facts.Tls,
            ReverseName = Facts.ReverseName,
            Listener = _listener.Name,
        };
    }

    private static readonly Encoding s_utf8 = new UTF8Encoding(false);
}
