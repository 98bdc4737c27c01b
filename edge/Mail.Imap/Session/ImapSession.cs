using Mail.Core.Tls;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Imap.Session;

internal enum SessionState { NotAuthenticated, Authenticated, Selected, Logout }

/// <summary>One IMAP connection: reads tagged commands, runs them against the stores, writes responses.</summary>
internal sealed partial class ImapSession : IListenerSession
{
    private readonly Socket _socket;
    private readonly bool _implicitTls;
    private readonly ImapServerOptions _options;
    private readonly ImapServices _services;
    private readonly LoginThrottle _throttle;
    private readonly EnvelopeCache _envelopes;
    private readonly PersistentFetchCache? _diskCache;
    private readonly MessageListCache _messageLists;
    private readonly RecentTracker _recent;
    private readonly MailboxKeywords _keywords;
    private readonly ILogger _logger;
    private readonly IPEndPoint _remote;
    private LineConnection _conn;
    private bool _tls;
    private SessionState _state = SessionState.NotAuthenticated;
    private string _user = "";
    private SelectedMailbox? _selected;
    private bool _rev2;
    private bool _condStore;
    private bool _utf8Accept;
    private CancellationToken _stopping;

    public ImapSession(Socket socket, IPEndPoint client, bool implicitTls, ImapServerOptions options, ImapServices services, LoginThrottle throttle, EnvelopeCache envelopes, PersistentFetchCache? diskCache, MessageListCache messageLists, RecentTracker recent, MailboxKeywords keywords, ILogger logger)
    {
        _recent = recent;
        _keywords = keywords;
        _messageLists = messageLists;
        _envelopes = envelopes;
        _diskCache = diskCache;
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
                var command = await ReadCommandAsync(timeout.Token);
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
            if (_inProgress is { } c && c.Name != "IDLE")
                _logger.LogInformation("IMAP connection from {Remote} ({User}) lost during {Tag} {Command}: {Cause}", _remote, UserForLog, c.Tag, c.Name, e.Message);
            else
                _logger.LogDebug("IMAP connection from {Remote} closed: {Message}", _remote, e.Message);
        }
    }

    /// <summary>The command being read (once a literal follows its first line) or run: named in the log line when the
    /// connection is lost in the middle of it.</summary>
    private CommandName? _inProgress;

    private readonly record struct CommandName(string Tag, string Name);

    private string UserForLog => _user.Length == 0 ? "not logged in" : _user;

    /// <summary>The connection failed or closed: the session ends, there is no one to answer.</summary>
    private static bool IsConnectionFailure(Exception e) => e is IOException or SocketException or AuthenticationException or ObjectDisposedException;

    /// <summary>
    /// Runs what the session tells the client outside a command's own work: the changes to the selected mailbox and
    /// what NOTIFY asked for, after a command, during IDLE and while waiting for a command. A store failure there is a
    /// server fault like one inside a command (logged with the command, the user and the exception), but the session
    /// cannot answer NO for it and carry on: the view may be half brought up to date (EXPUNGEs sent, EXISTS not yet),
    /// and sequence numbers the client computes from it would be wrong. So the client gets BYE and the session ends.
    /// False when that happened.
    /// </summary>
    private async Task<bool> TryReportChangesAsync(string tag, string command, Func<CancellationToken, Task> report, CancellationToken ct)
    {
        try
        {
            await report(ct);
            return true;
        }
        catch (Exception e) when (!IsConnectionFailure(e) && e is not OperationCanceledException)
        {
            _logger.LogError(e, "IMAP {Tag} {Command} for {User}: reporting mailbox changes failed, session closed: {ExceptionType}: {ExceptionMessage}",
                tag, command, UserForLog, e.GetType().FullName, e.Message);
            _conn.WriteLine("* BYE [SERVERBUG] Internal error while reporting mailbox changes; the failure was logged");
            _state = SessionState.Logout;
            return false;
        }
    }

    private sealed record CommandText(string Text, List<byte[]> Literals, bool Skip = false);

    /// <summary>Reads one command: its line(s) with the literals between them, answering "+" for synchronizing literals.
    /// Null at end of stream (or after a fatal protocol error has been answered with BYE).</summary>
    private async Task<CommandText?> ReadCommandAsync(CancellationToken ct)
    {
        var sb = new StringBuilder();
        var literals = new List<byte[]>();
        while (true)
        {
            var line = await _conn.ReadLineAsync(_options.MaxLineLength, ct);
            if (line.IsEnd)
            {
                if (literals.Count == 0) return null;
                throw new IOException("Connection closed after a literal, before the rest of the command");
            }
            if (line.IsTooLong)
            {
                _conn.WriteLine($"* BAD Command line longer than {_options.MaxLineLength} octets");
                return new CommandText("", literals, Skip: true);
            }
            var text = line.Text!;
            if (text.Contains('\0'))
            {
                _conn.WriteLine($"{TagOf(sb + text)} BAD NUL is not allowed in a command line");
                return new CommandText("", literals, Skip: true);
            }
            sb.Append(text);
            if (sb.Length > _options.MaxLineLength)
            {
                _conn.WriteLine($"* BAD Command longer than {_options.MaxLineLength} octets");
                return new CommandText("", literals, Skip: true);
            }
            if (!TryLiteralSuffix(text, out var size, out var nonSync, out var suffix)) break;
            sb.Length -= suffix;
            _inProgress ??= NameOf(sb.ToString());
            if (size > _options.MaxLiteralSize)
            {
                if (nonSync)
                {
                    // The client is sending the octets anyway; there is no way back into step with it.
                    _conn.WriteLine($"* BYE [TOOBIG] Literal larger than {_options.MaxLiteralSize} octets");
                    await _conn.FlushAsync(ct);
                    return null;
                }
                _conn.WriteLine($"{TagOf(sb.ToString())} NO [TOOBIG] Literal larger than {_options.MaxLiteralSize} octets");
                return new CommandText("", literals, Skip: true);
            }
            if (!nonSync)
            {
                _conn.WriteLine("+ Ready for literal data");
                await _conn.FlushAsync(ct);
            }
            var data = await _conn.ReadBytesAsync(size, ct)
                ?? throw new IOException($"Connection closed in the middle of a literal of {size} octets");
            literals.Add(data);
            sb.Append('\0');
        }
        return new CommandText(sb.ToString(), literals);
    }

    /// <summary>"{123}", "{123+}" (LITERAL+), "~{123}" (literal8) at the end of a line.</summary>
    internal static bool TryLiteralSuffix(string line, out long size, out bool nonSync, out int suffixLength)
    {
        size = 0;
        nonSync = false;
        suffixLength = 0;
        if (!line.EndsWith('}')) return false;
        var open = line.LastIndexOf('{');
        if (open < 0) return false;
        var inner = line.AsSpan(open + 1, line.Length - open - 2);
        if (inner.EndsWith("+")) { nonSync = true; inner = inner[..^1]; }
        if (inner.Length == 0 || inner.Length > 18) return false;
        foreach (var c in inner) if (!char.IsAsciiDigit(c)) return false;
        size = long.Parse(inner, System.Globalization.CultureInfo.InvariantCulture);
        suffixLength = line.Length - open;
        if (open > 0 && line[open - 1] == '~') suffixLength++;
        return true;
    }

    /// <summary>Tag and command name of a command's text so far, for the log (the command is not parsed yet).</summary>
    private static CommandName NameOf(string text)
    {
        var words = text.Split(' ', 4);
        var name = words.Length > 1 ? words[1].ToUpperInvariant() : "";
        if (name == "UID" && words.Length > 2) name += " " + words[2].ToUpperInvariant();
        return new CommandName(TagOf(text), Truncate(name));
    }

    private static string TagOf(string text)
    {
        var sp = text.IndexOf(' ');
        var tag = sp < 0 ? text : text[..sp];
        return tag.Length > 0 && tag.All(c => ArgReader.IsAtomChar(c) && c != '+') ? tag : "*";
    }

    private static readonly HashSet<string> AnyState = ["CAPABILITY", "NOOP", "LOGOUT", "ID"];
    private static readonly HashSet<string> NotAuthenticatedOnly = ["STARTTLS", "LOGIN", "AUTHENTICATE"];
    private static readonly HashSet<string> AuthenticatedOrSelected =
        ["ENABLE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "NAMESPACE", "IDLE", "NOTIFY",
         "GETQUOTA", "GETQUOTAROOT", "SETQUOTA"];
    private static readonly HashSet<string> SelectedOnly =
        ["CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE",
         "UID FETCH", "UID STORE", "UID COPY", "UID MOVE", "UID SEARCH", "UID EXPUNGE", "SORT", "UID SORT", "THREAD", "UID THREAD", "CANCELUPDATE"];

    /// <summary>Commands after which the session always looks for changes: NOOP and CHECK (how clients poll), and
    /// every command that may change the selected mailbox (its own change must show before its tagged OK, as must
    /// what other sessions did to the same messages meanwhile).</summary>
    private static readonly HashSet<string> ChangesMailboxes =
        ["NOOP", "CHECK", "APPEND", "STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE", "EXPUNGE", "UID EXPUNGE"];

    /// <summary>Commands during which EXPUNGE responses must not be sent (RFC 9051 7.5.1): sequence numbers would shift under the client.</summary>
    private static readonly HashSet<string> NoExpungeDuring = ["FETCH", "STORE", "SEARCH", "SORT", "THREAD"];

    private async Task ExecuteAsync(CommandText command, CancellationTokenSource timeout)
    {
        var r = new ArgReader(command.Text, command.Literals);
        string tag;
        try
        {
            tag = r.Atom("]");
            if (tag.Contains('+')) throw new ImapParseException("bad tag");
        }
        catch (ImapParseException)
        {
            _conn.WriteLine("* BAD Missing or invalid tag");
            return;
        }
        string name;
        try
        {
            r.Space();
            name = r.Atom().ToUpperInvariant();
            if (name == "UID")
            {
                r.Space();
                name = "UID " + r.Atom().ToUpperInvariant();
            }
        }
        catch (ImapParseException)
        {
            _conn.WriteLine($"{tag} BAD Missing command name");
            return;
        }
        if (!AnyState.Contains(name) && !NotAuthenticatedOnly.Contains(name) && !AuthenticatedOrSelected.Contains(name) && !SelectedOnly.Contains(name))
        {
            _conn.WriteLine($"{tag} BAD Unknown command {Truncate(name)}");
            return;
        }
        var allowed = AnyState.Contains(name)
            || (NotAuthenticatedOnly.Contains(name) && _state == SessionState.NotAuthenticated)
            || (AuthenticatedOrSelected.Contains(name) && _state is SessionState.Authenticated or SessionState.Selected)
            || (SelectedOnly.Contains(name) && _state == SessionState.Selected);
        if (!allowed)
        {
            _conn.WriteLine($"{tag} BAD {name} is not valid in the {StateName} state");
            return;
        }
        _inProgress = new CommandName(tag, name);

        var ct = timeout.Token;
        string? completion;
        try
        {
            completion = name switch
            {
                "CAPABILITY" => Capability(r),
                "NOOP" or "CHECK" => Noop(r, name),
                "LOGOUT" => Logout(r),
                "ID" => Id(r),
                "STARTTLS" => await StartTlsAsync(r, tag, ct),
                "LOGIN" => await LoginAsync(r, ct),
                "AUTHENTICATE" => await AuthenticateAsync(r, ct),
                "ENABLE" => Enable(r),
                "NAMESPACE" => Namespace(r),
                "GETQUOTAROOT" => await GetQuotaRootAsync(r, ct),
                "GETQUOTA" => await GetQuotaAsync(r, ct),
                "SETQUOTA" => SetQuota(),
                "SELECT" or "EXAMINE" => await SelectAsync(r, name, ct),
                "CREATE" => await CreateAsync(r, ct),
                "DELETE" => await DeleteAsync(r, ct),
                "RENAME" => await RenameAsync(r, ct),
                "SUBSCRIBE" or "UNSUBSCRIBE" => await SubscribeAsync(r, name == "SUBSCRIBE", ct),
                "LIST" or "LSUB" => await ListAsync(r, name == "LSUB", ct),
                "STATUS" => await StatusAsync(r, ct),
                "APPEND" => await AppendAsync(r, ct),
                "IDLE" => await IdleAsync(r, timeout),
                "NOTIFY" => await NotifyAsync(r, ct),
                "CLOSE" => await CloseAsync(r, ct),
                "UNSELECT" => Unselect(r),
                "EXPUNGE" or "UID EXPUNGE" => await ExpungeAsync(r, name == "UID EXPUNGE", ct),
                "FETCH" or "UID FETCH" => await FetchAsync(r, name == "UID FETCH", ct),
                "STORE" or "UID STORE" => await StoreAsync(r, name == "UID STORE", ct),
                "COPY" or "UID COPY" => await CopyAsync(r, name == "UID COPY", move: false, ct),
                "MOVE" or "UID MOVE" => await CopyAsync(r, name == "UID MOVE", move: true, ct),
                "SEARCH" or "UID SEARCH" => await SearchAsync(r, name == "UID SEARCH", tag, ct),
                "SORT" or "UID SORT" => await SortAsync(r, name == "UID SORT", tag, ct),
                "THREAD" or "UID THREAD" => await ThreadAsync(r, name == "UID THREAD", ct),
                "CANCELUPDATE" => CancelUpdate(r),
                _ => throw new ImapParseException($"Unknown command {name}"),
            };
        }
        catch (ImapParseException e)
        {
            _conn.WriteLine($"{tag} BAD {e.Message}");
            return;
        }
        catch (InvalidMailboxNameException e)
        {
            completion = $"NO [CANNOT] {e.Message}";
        }
        catch (MailboxNotFoundException e)
        {
            completion = $"NO [NONEXISTENT] {e.Message}";
        }
        catch (MailboxExistsException e)
        {
            completion = $"NO [ALREADYEXISTS] {e.Message}";
        }
        catch (MailboxException e)
        {
            completion = $"NO [CANNOT] {e.Message}";
        }
        catch (ArgumentException e)
        {
            completion = $"NO [CANNOT] {e.Message}";
        }
        catch (Exception e) when (!IsConnectionFailure(e) && e is not OperationCanceledException)
        {
            // The client gets no detail (RFC 5530 SERVERBUG); the log line names the command and the exception, so a
            // failure seen only by a client (imaptest's stress mode) can be matched to its cause.
            _logger.LogError(e, "IMAP {Command} failed for {User}: {ExceptionType}: {ExceptionMessage}", name, _user, e.GetType().FullName, e.Message);
            completion = "NO [SERVERBUG] Internal error; the failure was logged";
        }
        if (completion is null) return; // the command wrote its own completion (STARTTLS)
        // The command's outcome stands whatever happens next: its tagged reply is sent even after a BYE.
        await TryReportChangesAsync(tag, name, ct => ReportChangesAfterAsync(name, ct), ct);
        _conn.WriteLine($"{tag} {completion}");
    }

    /// <summary>What the client is owed after <paramref name="name"/>: the selected mailbox's changes (RFC 9051 7),
    /// NOTIFY's events, the CONTEXT=SEARCH updates.</summary>
    private async Task ReportChangesAfterAsync(string name, CancellationToken ct)
    {
        var refreshed = false;
        if (_state is SessionState.Selected or SessionState.Authenticated && name != "LOGOUT" && RefreshDue(name))
        {
            // SELECT/EXAMINE just read the mailbox: a change since then waits for the next command, since a client
            // resynchronising with QRESYNC takes the EXISTS of the SELECT as its count after applying VANISHED (EARLIER)
            // (imaptest's model, and Dovecot never sends more in the SELECT response).
            if (_state == SessionState.Selected && name is not ("SELECT" or "EXAMINE"))
            {
                await RefreshAsync(allowExpunge: !NoExpungeDuring.Contains(name) && !SequenceCommandPipelined(), ct);
                refreshed = true;
            }
            await NotifyChangesAsync(ct);
        }
        // A refresh has done this; without one (FETCH that set \Seen between polls) the lower value is still owed.
        if (!refreshed && _state == SessionState.Selected && _selected is { } held) ReportHighestModSeqIfBehind(held);
        await SendContextUpdatesAsync(ct);
    }

    private long _lastRefresh;

    /// <summary>
    /// True when the client already sent (pipelined) a command that names messages by sequence number: an EXPUNGE
    /// reported now would shift the numbers under it, since the client chose them before reading this response
    /// (RFC 9051 5.5). The expunge is reported after that command instead.
    /// </summary>
    private bool SequenceCommandPipelined()
    {
        var pending = _conn.PeekBuffered(4096);
        if (pending.Length == 0) return false;
        foreach (var line in pending.Split('\n'))
        {
            var words = line.Split(' ', 4);
            if (words.Length < 3) continue;
            var command = words[1].ToUpperInvariant();
            if (command is "FETCH" or "STORE" or "SEARCH" or "SORT" or "THREAD" or "COPY" or "MOVE") return true;
        }
        return false;
    }

    /// <summary>
    /// The commands in <see cref="ChangesMailboxes"/> always look for changes. Other commands look at most once per
    /// <see cref="ImapServerOptions.IdlePollInterval"/>: a client fetching 1,000 messages one command at a time
    /// should not pay a mailbox lookup for each, and it still hears of changes within that interval.
    /// </summary>
    private bool RefreshDue(string command)
    {
        var now = _services.Time.GetTimestamp();
        if (!ChangesMailboxes.Contains(command) && _services.Time.GetElapsedTime(_lastRefresh, now) < _options.IdlePollInterval) return false;
        _lastRefresh = now;
        return true;
    }

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "..." : s;

    private string StateName => _state switch
    {
        SessionState.NotAuthenticated => "not authenticated",
        SessionState.Authenticated => "authenticated",
        SessionState.Selected => "selected",
        _ => "logout",
    };

    private string Capability(ArgReader r)
    {
        r.ExpectEnd();
        _conn.WriteLine($"* CAPABILITY {Capabilities}");
        return "OK CAPABILITY completed";
    }

    private static string Noop(ArgReader r, string name)
    {
        r.ExpectEnd();
        return $"OK {name} completed";
    }

    private string Logout(ArgReader r)
    {
        r.ExpectEnd();
        _conn.WriteLine("* BYE Logging out");
        _state = SessionState.Logout;
        return "OK LOGOUT completed";
    }

    private string Id(ArgReader r)
    {
        // RFC 2971: the client's fields are read (and ignored); we say who we are.
        r.Space();
        if (!r.TryAtom("NIL"))
        {
            r.Expect('(');
            var first = true;
            while (!r.TryChar(')'))
            {
                if (!first) r.Space();
                first = false;
                r.String();
                r.Space();
                r.NString();
            }
        }
        r.ExpectEnd();
        _conn.WriteLine("* ID (\"name\" \"Mail.Imap\" \"vendor\" \"Mail\")");
        return "OK ID completed";
    }

    private string Enable(ArgReader r)
    {
        var enabled = new List<string>();
        do
        {
            r.Space();
            var cap = r.Atom().ToUpperInvariant();
            switch (cap)
            {
                case "IMAP4REV2" when !_rev2:
                    _rev2 = true;
                    enabled.Add("IMAP4rev2");
                    break;
                case "CONDSTORE" when !_condStore:
                    _condStore = true;
                    enabled.Add("CONDSTORE");
                    break;
                case "QRESYNC" when EnableQresync():
                    enabled.Add("QRESYNC");
                    break;
                case "UTF8=ACCEPT" when !_utf8Accept:
                    _utf8Accept = true;
                    enabled.Add("UTF8=ACCEPT");
                    break;
            }
        } while (!r.AtEnd);
        _conn.WriteLine(enabled.Count == 0 ? "* ENABLED" : "* ENABLED " + string.Join(' ', enabled));
        return "OK ENABLE completed";
    }

    private string Namespace(ArgReader r)
    {
        r.ExpectEnd();
        _conn.WriteLine("* NAMESPACE ((\"\" \"/\")) NIL NIL");
        return "OK NAMESPACE completed";
    }

    private async Task<string?> StartTlsAsync(ArgReader r, string tag, CancellationToken ct)
    {
        r.ExpectEnd();
        switch (ServerTls.CheckStartTls(_tls, _options.Certificate, _conn))
        {
            case StartTlsRefusal.AlreadyActive: return "BAD TLS is already active";
            case StartTlsRefusal.NoCertificate: return "BAD STARTTLS is not available (no certificate configured)";
            case StartTlsRefusal.DataAfterCommand:
                _conn.WriteLine($"{tag} BAD Data after STARTTLS; closing");
                await _conn.FlushAsync(ct);
                _state = SessionState.Logout;
                return null;
        }
        await ServerTls.StartTlsAsync(_conn, $"{tag} OK Begin TLS negotiation now", _options.Certificate!, ct);
        _tls = true;
        return null;
    }

    private async Task<string> LoginAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var user = r.AString();
        r.Space();
        var password = r.AString();
        r.ExpectEnd();
        if (!LoginAllowed) return "NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS";
        return await SignInAsync(user, password, "LOGIN", ct);
    }

    private async Task<string> AuthenticateAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var mechanism = r.Atom().ToUpperInvariant();
        string? initial = null;
        if (r.TrySpace()) initial = r.Atom("=");
        r.ExpectEnd();
        if (mechanism != "PLAIN") return "NO [CANNOT] Only the PLAIN mechanism is supported";
        if (!LoginAllowed) return "NO [PRIVACYREQUIRED] Authentication is disabled before STARTTLS";
        if (initial is null)
        {
            _conn.WriteLine("+ ");
            await _conn.FlushAsync(ct);
            var line = await _conn.ReadLineAsync(_options.MaxLineLength, ct);
            if (line.IsEnd) throw new IOException("Connection closed during AUTHENTICATE");
            if (line.IsTooLong) return "BAD Authentication response too long";
            initial = line.Text!.Trim();
            if (initial == "*") return "BAD Authentication cancelled";
        }
        if (SaslPlain.Parse(initial, out var error) is not { } plain) return "BAD " + error;
        if (plain.ActsAsAnother) return "NO [AUTHORIZATIONFAILED] Acting as another user is not allowed";
        return await SignInAsync(plain.User, plain.Password, "AUTHENTICATE", ct);
    }

    private async Task<string> SignInAsync(string name, string password, string command, CancellationToken ct)
    {
        var (outcome, signedIn) = await GatewayLogin.SignInAsync(_services.Directory, _throttle, "IMAP", name, password, _remote.Address, _options.FailedLoginDelay, _services.Time, _logger, ct);
        if (outcome == LoginOutcome.Throttled) return "NO [UNAVAILABLE] Too many failed logins; try again later";
        if (outcome == LoginOutcome.Failed) return "NO [AUTHENTICATIONFAILED] Invalid credentials";
        var user = signedIn!;
        await Mailboxes.EnsureUserMailboxesAsync(user, ct);
        _user = user;
        _state = SessionState.Authenticated;
        return $"OK [CAPABILITY {Capabilities}] {command} completed";
    }

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
