using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Mail.Core.Listening;
using Mail.Core.Ports;
using Mail.Imap.Messages;
using Microsoft.Extensions.Logging;

namespace Mail.Imap.Session;

/// <summary>
/// One IMAP connection: reads tagged commands (<see cref="CommandReader"/>), runs them against the stores, writes
/// responses. Its state is <see cref="SessionState"/> (RFC 9051 3), which commands each state allows is
/// <see cref="ImapCommands"/>, and what it believes about the selected mailbox is <see cref="SelectedMailbox"/>.
/// This file holds the connection's life; the dispatch of one command is ImapSession.Dispatch.cs, the commands are
/// in one file per RFC 9051 section or extension (docs/imap.md lists them).
/// </summary>
internal sealed partial class ImapSession : IListenerSession
{
    private readonly Socket _socket;
    private readonly bool _implicitTls;
    private readonly ImapServerOptions _options;
    private readonly ImapServices _services;
    private readonly LoginThrottle _throttle;
    private readonly EnvelopeCache _envelopes;
    private readonly MessageListCache _messageLists;
    private readonly RecentTracker _recent;
    private readonly MailboxKeywords _keywords;
    private readonly ILogger _logger;
    private readonly IPEndPoint _remote;
    private readonly LineConnection _conn;
    private readonly CommandReader _reader;
    private bool _tls;
    private SessionState _state = SessionState.NotAuthenticated;
    private string _user = "";
    private SelectedMailbox? _selected;

    /// <summary>The selected mailbox's on-disk cache file (formatted FETCH items), when a cache directory is set.</summary>
    private MailboxCacheFile? _diskCache =>
        _selected is { } s && _messageLists.Files is { } files ? s.CacheFile ??= files.Of(_user, s.Name, s.UidValidity) : null;
    private bool _rev2;
    private bool _condStore;
    private bool _utf8Accept;
    private CancellationToken _stopping;

    public ImapSession(Socket socket, IPEndPoint client, bool implicitTls, ImapServerOptions options, ImapServices services, LoginThrottle throttle, EnvelopeCache envelopes, MessageListCache messageLists, RecentTracker recent, MailboxKeywords keywords, ILogger logger)
    {
        _recent = recent;
        _keywords = keywords;
        _messageLists = messageLists;
        _envelopes = envelopes;
        _socket = socket;
        _implicitTls = implicitTls;
        _options = options;
        _services = services;
        _throttle = throttle;
        _logger = logger;
        // The socket's peer, or on a PROXY protocol listener the relayed client (IPv4 unmapped by the listener): the one
        // address for the login throttle, the loopback rule and the logs.
        _remote = client;
        _conn = new LineConnection(new NetworkStream(socket, ownsSocket: true));
        _reader = new CommandReader(_conn, options);
    }

    private IMailboxStore Mailboxes => _services.Mailboxes;

    /// <summary>Mailbox names travel as UTF-8 once the client enabled IMAP4rev2 or UTF8=ACCEPT, else as modified UTF-7.</summary>
    private bool Utf8Names => _rev2 || _utf8Accept;

    private bool IsLoopback => IPAddress.IsLoopback(_remote.Address);

    private bool LoginAllowed => _tls || (_options.AllowPlaintextLoginOnLoopback && IsLoopback);

    private string Capabilities
    {
        get
        {
            var sb = new StringBuilder("IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE CONDSTORE ESEARCH SEARCHRES SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES MULTIAPPEND CATENATE BINARY STATUS=SIZE UTF8=ACCEPT QRESYNC NOTIFY");
            if (_services.Quotas is not null) sb.Append(" QUOTA QUOTA=RES-STORAGE");
            if (_state == SessionState.NotAuthenticated)
            {
                if (!_tls && _options.Certificate is not null) sb.Append(" STARTTLS");
                sb.Append(LoginAllowed ? " AUTH=PLAIN" : " LOGINDISABLED");
            }
            return sb.ToString();
        }
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        _stopping = stopping;
        try
        {
            if (_implicitTls)
            {
                using var hs = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                hs.CancelAfter(_options.UnauthenticatedTimeout);
                await ServerTls.HandshakeAsync(_conn, _options.Certificate!, hs.Token);
                _tls = true;
            }
            _conn.WriteLine($"* OK [CAPABILITY {Capabilities}] {_options.HostName} IMAP server ready");
            await _conn.FlushAsync(stopping);
            while (_state != SessionState.Logout)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(_state == SessionState.NotAuthenticated ? _options.UnauthenticatedTimeout : _options.AuthenticatedTimeout);
                if (_notify is not null && !await WaitForCommandWithNotificationsAsync(timeout.Token))
                {
                    await _conn.FlushAsync(stopping);
                    return;
                }
                var command = await _reader.ReadAsync(timeout.Token);
                if (command is null) return;
                if (command.Skip)
                {
                    _inProgress = null;
                    await _conn.FlushAsync(stopping);
                    continue;
                }
                await ExecuteAsync(command, timeout);
                // The flush is part of the command: a big FETCH's last writes may be the ones that fail.
                await _conn.FlushAsync(stopping);
                _inProgress = null;
                RunAfterReply();
            }
        }
        catch (OperationCanceledException)
        {
            await _conn.SayLastAsync(stopping.IsCancellationRequested ? "* BYE Server shutting down" : "* BYE Autologout; idle for too long");
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            // Between commands a closed connection is how many clients say goodbye, and ending IDLE by hanging up is
            // what mobile clients do: Debug. In the middle of any other command (a literal half sent, a FETCH response
            // half written) it is worth one line an operator sees, naming the command and the cause.
            if ((_inProgress ?? _reader.Reading) is { } c && c.Name != "IDLE")
                _logger.LogInformation("IMAP connection from {Remote} ({User}) lost during {Tag} {Command}: {Cause}", _remote, UserForLog, c.Tag, c.Name, e.Message);
            else
                _logger.LogDebug("IMAP connection from {Remote} closed: {Message}", _remote, e.Message);
        }
    }

    /// <summary>Work a command leaves until its reply is sent (queueing a cache file write); at most one.</summary>
    private Action? _afterReply;

    private void RunAfterReply()
    {
        var work = _afterReply;
        _afterReply = null;
        work?.Invoke();
    }

    /// <summary>The command being run: named in the log line when the connection is lost in the middle of it (as is
    /// the one whose literal <see cref="CommandReader"/> is reading).</summary>
    private CommandName? _inProgress;

    private string UserForLog => _user.Length == 0 ? "not logged in" : _user;

    /// <summary>The connection failed or closed: the session ends, there is no one to answer.</summary>
    private static bool IsConnectionFailure(Exception e) => e is IOException or SocketException or AuthenticationException or ObjectDisposedException;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _conn.DisposeAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException or AuthenticationException)
        {
        }
        _socket.Dispose();
    }
}
