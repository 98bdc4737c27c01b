using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.Core.Ports;
using Mail.Pop3.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Pop3.Session;

/// <summary>RFC 1939 section 3: a session is in one state at a time.</summary>
internal enum Pop3State { Authorization, Transaction, Update }

/// <summary>One POP3 connection (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): reads command lines, answers
/// from the maildrop snapshot taken at login, and expunges what DELE marked only at QUIT: a dropped or timed-out session
/// expunges nothing (RFC 1939 section 6: only QUIT enters UPDATE).</summary>
internal sealed class Pop3Session : LineProtocolSession<Pop3Command>
{
    private static readonly SessionEndReplies EndReplies = new(Pop3Replies.TooManyBadCommands, Pop3Replies.IdleTimeout, Pop3Replies.ShuttingDown, Pop3Replies.InternalError);

    private readonly bool _implicitTls;
    private readonly Pop3ServerOptions _options;
    private readonly Pop3Services _services;
    private readonly LoginThrottle _throttle;
    private readonly MaildropLocks _locks;
    private Pop3State _state = Pop3State.Authorization;
    private bool _tls;
    private string? _pendingUser;
    private Maildrop? _maildrop;
    private string? _locked;

    public Pop3Session(Socket socket, IPEndPoint client, bool implicitTls, Pop3ServerOptions options, Pop3Services services, LoginThrottle throttle, MaildropLocks locks, ILogger logger)
        : base(socket, client, "POP3", EndReplies, options.MaxBadCommands, logger)
    {
        _implicitTls = implicitTls;
        _options = options;
        _services = services;
        _throttle = throttle;
        _locks = locks;
    }

    private bool LoginAllowed => _tls || (_options.AllowPlaintextLoginOnLoopback && IPAddress.IsLoopback(Remote.Address));

    private string StateName => _state switch
    {
        Pop3State.Authorization => "AUTHORIZATION",
        Pop3State.Transaction => "TRANSACTION",
        _ => "UPDATE",
    };

    protected override TimeSpan IdleTimeout => _options.IdleTimeout;

    protected override async Task GreetAsync(CancellationToken stopping)
    {
        if (_implicitTls)
        {
            using var hs = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            hs.CancelAfter(_options.IdleTimeout);
            await ServerTls.HandshakeAsync(Conn, _options.Certificate!, hs.Token);
            _tls = true;
        }
        Conn.WriteLine(Pop3Replies.Greeting(_options.HostName));
    }

    protected override async ValueTask<CommandRead<Pop3Command>> ReadCommandAsync(CancellationToken ct)
    {
        var line = await Conn.ReadLineAsync(_options.MaxLineLength, ct);
        if (line.IsEnd) return default;
        if (line.IsTooLong) return CommandRead<Pop3Command>.Refused(Pop3Replies.LineTooLong(_options.MaxLineLength));
        return line.Text!.Contains('\0') ? CommandRead<Pop3Command>.Refused(Pop3Replies.Nul) : CommandRead<Pop3Command>.Of(Pop3Command.Parse(line.Text));
    }

    protected override string NameOf(Pop3Command command) => command.Name;

    private static readonly HashSet<string> AnyState = ["CAPA", "QUIT"];
    private static readonly HashSet<string> AuthorizationOnly = ["USER", "PASS", "AUTH", "STLS"];
    private static readonly HashSet<string> TransactionOnly = ["STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL"];

    protected override async Task ExecuteAsync(Pop3Command command, CancellationToken ct)
    {
        var name = command.Name;
        if (!AnyState.Contains(name) && !AuthorizationOnly.Contains(name) && !TransactionOnly.Contains(name))
        {
            Bad(Pop3Replies.UnknownCommand(name.Length > 20 ? name[..20] + "..." : name));
            return;
        }
        if ((AuthorizationOnly.Contains(name) && _state != Pop3State.Authorization) || (TransactionOnly.Contains(name) && _state != Pop3State.Transaction))
        {
            Bad(Pop3Replies.WrongState(name, StateName));
            return;
        }
        var args = command.Arguments;
        switch (name)
        {
            case "CAPA" when args.Count == 0: Capa(); break;
            case "QUIT" when args.Count == 0: await QuitAsync(ct); break;
            case "STLS" when args.Count == 0: await StlsAsync(ct); break;
            case "USER" when args.Count >= 1: User(string.Join(' ', args)); break;
            // A password may hold spaces: everything after "PASS " is the password.
            case "PASS" when args.Count >= 1: await PassAsync(string.Join(' ', args), ct); break;
            case "AUTH" when args.Count <= 2: await AuthAsync(args, ct); break;
            case "STAT" when args.Count == 0: Conn.WriteLine(Pop3Replies.Stat(_maildrop!.Count, _maildrop.Octets)); break;
            case "LIST" when args.Count <= 1: List(args, uids: false); break;
            case "UIDL" when args.Count <= 1: List(args, uids: true); break;
            case "RETR" when args.Count == 1: await RetrieveAsync(args[0], null, ct); break;
            case "TOP" when args.Count == 2: await RetrieveAsync(args[0], args[1], ct); break;
            case "DELE" when args.Count == 1: Dele(args[0]); break;
            case "NOOP" when args.Count == 0: Conn.WriteLine(Pop3Replies.Noop); break;
            case "RSET" when args.Count == 0:
                _maildrop!.Reset();
                Conn.WriteLine(Pop3Replies.Reset(_maildrop.Count, _maildrop.Octets));
                break;
            default: Bad(Pop3Replies.BadArguments(name, Usage(name))); break;
        }
    }

    private static string Usage(string name) => name switch
    {
        "USER" => "name",
        "PASS" => "password",
        "AUTH" => "PLAIN [initial-response]",
        "LIST" or "UIDL" => "[msg]",
        "RETR" or "DELE" => "msg",
        "TOP" => "msg n",
        _ => "(no arguments)",
    };

    /// <summary>RFC 2449 CAPA. USER and SASL are left out while a login would be refused for want of TLS, as IMAP's
    /// LOGINDISABLED; STLS only before TLS and login.</summary>
    private void Capa()
    {
        Conn.WriteLine(Pop3Replies.Capabilities);
        Conn.WriteLine("TOP");
        Conn.WriteLine("UIDL");
        Conn.WriteLine("RESP-CODES");
        Conn.WriteLine("AUTH-RESP-CODE");
        Conn.WriteLine("PIPELINING");
        if (_state == Pop3State.Authorization)
        {
            if (LoginAllowed)
            {
                Conn.WriteLine("USER");
                Conn.WriteLine("SASL PLAIN");
            }
            if (!_tls && _options.Certificate is not null) Conn.WriteLine("STLS");
        }
        Conn.WriteLine("IMPLEMENTATION Mail.Pop3");
        Conn.WriteLine(".");
    }

    private async Task StlsAsync(CancellationToken ct)
    {
        switch (ServerTls.CheckStartTls(_tls, _options.Certificate, Conn))
        {
            case StartTlsRefusal.AlreadyActive: Bad(Pop3Replies.TlsActive); return;
            case StartTlsRefusal.NoCertificate: Bad(Pop3Replies.TlsUnavailable); return;
            case StartTlsRefusal.DataAfterCommand:
                Conn.WriteLine(Pop3Replies.DataAfterStls);
                Closing = true;
                return;
        }
        await ServerTls.StartTlsAsync(Conn, Pop3Replies.BeginTls, _options.Certificate!, ct);
        _tls = true;
        // RFC 2595 section 4: anything learned before TLS is forgotten.
        _pendingUser = null;
    }

    private void User(string name)
    {
        if (!LoginAllowed)
        {
            Conn.WriteLine(Pop3Replies.PlaintextDisallowed);
            return;
        }
        // The same answer for every name: USER must not tell which users exist.
        _pendingUser = name;
        Conn.WriteLine(Pop3Replies.UserAccepted);
    }

    private async Task PassAsync(string password, CancellationToken ct)
    {
        if (_pendingUser is not { } user)
        {
            Bad(Pop3Replies.PassWithoutUser);
            return;
        }
        _pendingUser = null;
        if (!LoginAllowed)
        {
            Conn.WriteLine(Pop3Replies.PlaintextDisallowed);
            return;
        }
        await SignInAsync(user, password, ct);
    }

    private async Task AuthAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        if (args.Count == 0)
        {
            // The pre-RFC 5034 form some clients still send to list the mechanisms.
            Conn.WriteLine(Pop3Replies.AuthMechanisms);
            if (LoginAllowed) Conn.WriteLine("PLAIN");
            Conn.WriteLine(".");
            return;
        }
        if (!args[0].Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
        {
            Conn.WriteLine(Pop3Replies.MechanismUnsupported);
            return;
        }
        if (!LoginAllowed)
        {
            Conn.WriteLine(Pop3Replies.PlaintextDisallowed);
            return;
        }
        string response;
        if (args.Count == 2) response = args[1];
        else
        {
            Conn.WriteLine(Pop3Replies.SaslContinue);
            await Conn.FlushAsync(ct);
            var line = await Conn.ReadLineAsync(_options.MaxLineLength, ct);
            if (line.IsEnd) throw new IOException("Connection closed during AUTH");
            if (line.IsTooLong)
            {
                Bad(Pop3Replies.LineTooLong(_options.MaxLineLength));
                return;
            }
            response = line.Text!.Trim();
            if (response == "*")
            {
                Conn.WriteLine(Pop3Replies.AuthCancelled);
                return;
            }
        }
        if (SaslPlain.Parse(response, out var error) is not { } plain)
        {
            Bad(Pop3Replies.BadSasl(error!));
            return;
        }
        if (plain.ActsAsAnother)
        {
            Conn.WriteLine(Pop3Replies.ActsAsAnother);
            return;
        }
        await SignInAsync(plain.User, plain.Password, ct);
    }

    private async Task SignInAsync(string name, string password, CancellationToken ct)
    {
        var client = Remote.Address.ToString();
        var (outcome, signedIn) = await GatewayLogin.SignInAsync(_services.Directory, _throttle, "POP3", name, password, Remote.Address, _options.FailedLoginDelay, _services.Time, Logger, ct);
        if (outcome != LoginOutcome.LoggedIn)
        {
            Conn.WriteLine(outcome == LoginOutcome.Throttled ? Pop3Replies.Throttled : Pop3Replies.InvalidCredentials);
            return;
        }
        var user = signedIn!;
        if (_options.LockSession)
        {
            if (!_locks.TryEnter(user))
            {
                Conn.WriteLine(Pop3Replies.InUse);
                return;
            }
            _locked = user;
        }
        try
        {
            await _services.Mailboxes.EnsureUserMailboxesAsync(user, ct);
            var inbox = await _services.Mailboxes.GetMailboxAsync(user, Maildrop.Mailbox, ct) ?? throw new MailboxNotFoundException(Maildrop.Mailbox);
            var messages = await _services.Mailboxes.ListMessagesAsync(user, Maildrop.Mailbox, cancellationToken: ct);
            _maildrop = new Maildrop(inbox.UidValidity, messages);
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException or SocketException or ObjectDisposedException or AuthenticationException))
        {
            Unlock();
            Logger.LogError(e, "POP3 maildrop of {User} cannot be opened", user);
            Conn.WriteLine(Pop3Replies.MaildropUnavailable);
            return;
        }
        SignedInUser = user;
        _state = Pop3State.Transaction;
        Logger.LogInformation("POP3 login {User} from {Client}", user, client);
        Conn.WriteLine(Pop3Replies.LoggedIn(_maildrop.Count, _maildrop.Octets));
    }

    /// <summary>The message a number names, or null after answering why not (no such message, or marked deleted). Not
    /// a bad command: a client may well ask for a number another of its commands just deleted.</summary>
    private int? Find(string argument)
    {
        if (!Pop3Command.TryMessageNumber(argument, out var number) || !_maildrop!.Exists(number))
        {
            Conn.WriteLine(Pop3Replies.NoSuchMessage(argument.Length > 20 ? argument[..20] : argument));
            return null;
        }
        if (_maildrop.IsDeleted(number))
        {
            Conn.WriteLine(Pop3Replies.AlreadyDeleted(number));
            return null;
        }
        return number;
    }

    private void List(IReadOnlyList<string> args, bool uids)
    {
        var drop = _maildrop!;
        if (args.Count == 1)
        {
            if (Find(args[0]) is not { } n) return;
            Conn.WriteLine(uids ? Pop3Replies.UidLine(n, drop.UniqueId(n)) : Pop3Replies.ScanLine(n, drop[n].Size));
            return;
        }
        Conn.WriteLine(uids ? Pop3Replies.UidListing : Pop3Replies.ScanListing(drop.Count, drop.Octets));
        foreach (var n in drop.Live)
            Conn.WriteLine(uids ? $"{n} {drop.UniqueId(n)}" : $"{n} {drop[n].Size}");
        Conn.WriteLine(".");
    }

    private void Dele(string argument)
    {
        if (Find(argument) is not { } n) return;
        _maildrop!.Delete(n);
        Conn.WriteLine(Pop3Replies.Deleted(n));
    }

    /// <summary>RETR (whole message) or TOP (header and <paramref name="lines"/> body lines), dot-stuffed.</summary>
    private async Task RetrieveAsync(string argument, string? lines, CancellationToken ct)
    {
        long? bodyLines = null;
        if (lines is not null)
        {
            if (!Pop3Command.TryLineCount(lines, out var count))
            {
                Bad(Pop3Replies.BadArguments("TOP", Usage("TOP")));
                return;
            }
            bodyLines = count;
        }
        if (Find(argument) is not { } n) return;
        var record = _maildrop![n];
        Stream? stream;
        try
        {
            stream = await _services.Messages.OpenReadAsync(record.MessageRef, ct);
        }
        catch (Exception e) when (e is not (OperationCanceledException or SocketException or ObjectDisposedException))
        {
            Logger.LogError(e, "POP3 RETR of {User} message {Uid} failed", SignedInUser, record.Uid);
            Conn.WriteLine(Pop3Replies.ReadFailed);
            return;
        }
        if (stream is null)
        {
            Conn.WriteLine(Pop3Replies.MessageGone(n));
            return;
        }
        await using (stream)
        {
            Conn.WriteLine(bodyLines is null ? Pop3Replies.Message(record.Size) : Pop3Replies.Top);
            var stuffer = new DotStuffer(bodyLines);
            var buffer = new byte[64 * 1024];
            int read;
            // Once the status line is out, a read failure cannot become an -ERR: the connection is dropped instead
            // (the IOException ends the session), so the client never takes a truncated message for a whole one.
            while (!stuffer.Done && (read = await stream.ReadAsync(buffer, ct)) > 0)
            {
                stuffer.Feed(buffer.AsSpan(0, read), Conn.Write);
                await Conn.MaybeFlushAsync(ct);
            }
            stuffer.Finish(Conn.Write);
            Conn.WriteLine(".");
        }
        if (bodyLines is null) _maildrop.MarkRetrieved(n);
    }

    /// <summary>QUIT: from TRANSACTION, the UPDATE state removes what DELE marked (RFC 1939 section 6) and sets \Seen
    /// on what RETR sent; only then does the session end.</summary>
    private async Task QuitAsync(CancellationToken ct)
    {
        Closing = true;
        if (_state == Pop3State.Authorization)
        {
            Conn.WriteLine(Pop3Replies.Bye);
            return;
        }
        _state = Pop3State.Update;
        var drop = _maildrop!;
        var deleted = drop.DeletedUids;
        try
        {
            if (!_options.NoFlagUpdates && drop.RetrievedUids is { Count: > 0 } seen)
                await _services.Mailboxes.StoreFlagsAsync(SignedInUser, Maildrop.Mailbox, seen, FlagChange.Add, [MessageFlags.Seen], cancellationToken: ct);
            var removed = 0;
            if (deleted.Count > 0)
            {
                await _services.Mailboxes.StoreFlagsAsync(SignedInUser, Maildrop.Mailbox, deleted, FlagChange.Add, [MessageFlags.Deleted], cancellationToken: ct);
                removed = (await _services.Mailboxes.ExpungeAsync(SignedInUser, Maildrop.Mailbox, deleted, ct)).Count;
            }
            Logger.LogInformation("POP3 logout {User}: {Removed} messages deleted", SignedInUser, removed);
            // Unlocked before the reply: a client that logs in again right after QUIT finds the maildrop free.
            Unlock();
            Conn.WriteLine(Pop3Replies.Quit(_options.HostName, removed));
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException or SocketException or ObjectDisposedException))
        {
            Logger.LogError(e, "POP3 UPDATE of {User} failed", SignedInUser);
            Unlock();
            Conn.WriteLine(Pop3Replies.NotRemoved(deleted.Count));
        }
    }

    private void Unlock()
    {
        if (_locked is null) return;
        _locks.Exit(_locked);
        _locked = null;
    }

    protected override void Release() => Unlock();
}
