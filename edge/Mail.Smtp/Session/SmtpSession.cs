using Mail.Core.Tls;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Listening;
using Mail.Core.Model;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

/// <summary>
/// One SMTP connection: the RFC 5321 state machine (<see cref="SmtpState"/>). Reads commands from a
/// <see cref="PipeReader"/>, answers through <see cref="SmtpReplyWriter"/> with replies from <see cref="SmtpReplies"/>,
/// streams DATA/BDAT into the message store and queues the envelope before it says 250. Everything the session writes
/// happens on its own task, including the 421 on timeout or shutdown (those only interrupt the pending read).
/// The partial files follow the dialogue: Connect (up to the greeting), Reading (command lines, timeouts), Commands
/// (dispatch, HELO/EHLO and the small commands), Tls, Auth, Mail (MAIL and RCPT), Data (DATA, BDAT, the end of data), Quota.
/// </summary>
internal sealed partial class SmtpSession : ISmtpInput, IDisposable
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
    private readonly SmtpHostReplies _hostReplies;

    /// <summary>Cancelled by <see cref="Abort"/>: what the session awaits on others' behalf (policy hooks) stops with the connection.</summary>
    private readonly CancellationTokenSource _aborted = new();

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
    private readonly SessionLimits _limits;
    private readonly RateLimiter? _rateLimiter;
    private readonly RecipientDirectory _recipients;
    private readonly RecipientQuota? _quota;

    /// <summary>Where the dialogue is. The transaction's envelope (reverse-path, parameters, recipients) lives in
    /// <see cref="Facts"/>, where the policy reads it; <see cref="_tx"/> holds the rest of an open transaction and is
    /// set exactly while <see cref="InTransaction"/>.</summary>
    private SmtpState _state = SmtpState.Connected;
    private SmtpTransaction? _tx;

    /// <summary>What the connect and HELO hooks decided (SmtpPolicyResult.Decisions): it applies to every message of the session.</summary>
    private EdgeDecisions _sessionDecisions = EdgeDecisions.None;

    /// <param name="client">The client as the server admitted it: the socket's peer, or on a PROXY protocol listener the
    /// address the proxy relayed; an IPv4-mapped address is already plain IPv4 (ConnectionListener). Every check (Received:, SPF, FCrDNS, DNSBL, greylisting, limits, mynetworks) and
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
        _hostReplies = SmtpHostReplies.For(options.HostName);
        _limits = new SessionLimits(options.MaxErrors, options.MaxCommandsBeforeMail);
        _network = new NetworkStream(socket, ownsSocket: true);
        _stream = _network;
        Facts = new SmtpSessionFacts(sessionId, client, local, listener.Name, listener.Role);
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
        try
        {
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The session closed meanwhile.
        }
    }

    /// <summary>A mail transaction is open: from MAIL's 250 to the end of data, RSET, HELO/EHLO or STARTTLS.</summary>
    private bool InTransaction => _state is SmtpState.MailGiven or SmtpState.RcptGiven or SmtpState.Data or SmtpState.Chunking;

    public async Task RunAsync()
    {
        try
        {
            _logger.LogDebug("Session {SessionId}: connect from {Client} on {Listener}", Facts.SessionId, Facts.ClientEndPoint, _listener.Name);
            if (_listener.ImplicitTls && !await HandshakeAsync()) return;
            CreatePipes();
            if (_stopping)
            {
                _reply.Write(_hostReplies.ShuttingDown);
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
                    _reply.Write(_hostReplies.TooManyErrors);
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
                _reply?.Write(_hostReplies.LocalError);
            }
            catch (InvalidOperationException)
            {
            }
        }
        finally
        {
            _state = SmtpState.Closing;
            await CloseAsync();
            _completion.TrySetResult();
        }
    }

    private void CreatePipes()
    {
        // Zero-byte reads: an idle connection holds no buffer (5,000 idle clients cost sockets, not memory); only
        // between transactions, where a client may stay silent (WaitForDataStream). 16 KiB segments: a typical
        // message's data arrives in one read rather than several; a session holds one only inside a transaction.
        var input = new WaitForDataStream(_stream, () => !InTransaction);
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
        Dispose();
    }

    /// <summary>Releases the connection's resources. <see cref="RunAsync"/> does so when it ends (after a graceful close);
    /// this is for whoever holds a session that never ran, and is harmless after <see cref="RunAsync"/>.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        _network.Dispose();
        _socket.Dispose();
        _aborted.Dispose();
    }

    // ---- replies ----------------------------------------------------------------------------

    /// <summary>Writes a reply to a command; a 4xx or 5xx counts towards Smtp:MaxErrors. (The 421s that close the
    /// connection, the greeting and the 221 are written straight to <see cref="_reply"/>.)</summary>
    private void Reply(in SmtpReply reply)
    {
        _reply.Write(reply);
        if (reply.Code >= 400) _limits.CountError();
    }

    /// <summary>Keeps what a policy asked to record with the message (<see cref="SmtpPolicyResult.Results"/>) and what it
    /// decided for it (<see cref="SmtpPolicyResult.Decisions"/>, returned after <paramref name="decisions"/>).</summary>
    private static EdgeDecisions Record(Dictionary<string, string> into, EdgeDecisions decisions, in SmtpPolicyResult verdict)
    {
        if (verdict.Results is { } results)
            foreach (var (key, value) in results) into[key] = value;
        return decisions.Then(verdict.Decisions);
    }

    /// <summary>Counts a refusal, with this client and the transaction's sender (or <paramref name="sender"/>, the MAIL
    /// FROM being refused) for the console's top lists.</summary>
    private void Rejected(string reason, string? sender = null) =>
        Mail.Core.Telemetry.MailTelemetry.Reject(reason, Facts.ClientEndPoint.Address, sender ?? Facts.MailFrom);

    private void Reply(in SmtpPolicyResult verdict)
    {
        // Every policy verdict written here is a refusal (restriction lists, DNSBL, greylisting, policy service).
        Rejected(Mail.Core.Telemetry.RejectReason.Policy);
        _reply.Write(verdict.Code, verdict.EnhancedCode.Length > 0 ? verdict.EnhancedCode : null, verdict.Text);
        _limits.CountError();
    }

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