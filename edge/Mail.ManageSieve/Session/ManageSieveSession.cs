using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.ManageSieve.Protocol;
using Mail.Sieve;
using Microsoft.Extensions.Logging;

namespace Mail.ManageSieve.Session;

/// <summary>RFC 5804: a session is non-authenticated until AUTHENTICATE succeeds (and again after UNAUTHENTICATE).</summary>
internal enum ManageSieveState { NonAuthenticated, Authenticated }

/// <summary>One ManageSieve connection (RFC 5804): capabilities at the greeting and after STARTTLS, AUTHENTICATE PLAIN,
/// then the script commands over the user's scripts in <see cref="SieveScripts"/>, each script compiled by Mail.Sieve
/// before it is stored.</summary>
internal sealed class ManageSieveSession : IListenerSession
{
    private readonly Socket _socket;
    private readonly ManageSieveServerOptions _options;
    private readonly ManageSieveServices _services;
    private readonly LoginThrottle _throttle;
    private readonly ILogger _logger;
    private readonly IPEndPoint _remote;
    private readonly LineConnection _conn;
    private readonly CommandReader _reader;
    private ManageSieveState _state = ManageSieveState.NonAuthenticated;
    private bool _tls;
    private bool _closing;
    private int _badCommands;
    private string _user = "";

    public ManageSieveSession(Socket socket, IPEndPoint client, ManageSieveServerOptions options, ManageSieveServices services, LoginThrottle throttle, ILogger logger)
    {
        _socket = socket;
        _options = options;
        _services = services;
        _throttle = throttle;
        _logger = logger;
        // The socket's peer, or on a PROXY protocol listener the relayed client (IPv4 unmapped by the listener): the one
        // address for the login throttle, the loopback rule and the logs.
        _remote = client;
        _conn = new LineConnection(new NetworkStream(socket, ownsSocket: true));
        _reader = new CommandReader(_conn, options.MaxLineLength, options.MaxScriptSize);
    }

    private bool LoginAllowed => _tls || (_options.AllowPlaintextLoginOnLoopback && IPAddress.IsLoopback(_remote.Address));

    private SieveScripts Scripts => _services.Directory.Sieve;

    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            WriteCapabilities();
            _conn.WriteLine(ManageSieveReplies.Greeting(_options.HostName));
            await _conn.FlushAsync(stopping);
            while (!_closing)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(_options.IdleTimeout);
                var read = await _reader.ReadAsync(timeout.Token);
                if (read.IsEnd) return;
                if (read.Fatal)
                {
                    _conn.WriteLine(read.Refusal!);
                    _closing = true;
                }
                else if (read.Refusal is { } refusal) Bad(refusal);
                else await ExecuteSafelyAsync(read.Tokens!, timeout.Token);
                if (!_conn.HasBufferedInput || _closing) await _conn.FlushAsync(stopping);
            }
        }
        catch (OperationCanceledException)
        {
            await _conn.SayLastAsync(stopping.IsCancellationRequested ? ManageSieveReplies.ShuttingDown : ManageSieveReplies.IdleTimeout);
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            _logger.LogDebug("ManageSieve connection from {Remote} closed: {Message}", _remote, e.Message);
        }
    }

    /// <summary>An error reply that counts towards <see cref="ManageSieveServerOptions.MaxBadCommands"/>; past it, BYE.</summary>
    private void Bad(string reply)
    {
        _conn.WriteLine(reply);
        if (++_badCommands < _options.MaxBadCommands) return;
        _conn.WriteLine(ManageSieveReplies.TooManyBadCommands);
        _logger.LogInformation("ManageSieve session from {Remote} closed after {Count} bad commands", _remote, _badCommands);
        _closing = true;
    }

    /// <summary>A failure nobody foresaw (the directory or the state store down) is one NO (TRYLATER) and a log line,
    /// and the session goes on; a broken connection or the timeout still ends it.</summary>
    private async Task ExecuteSafelyAsync(IReadOnlyList<Token> tokens, CancellationToken ct)
    {
        var name = tokens.Count > 0 && tokens[0].Kind == TokenKind.Atom ? tokens[0].Text.ToUpperInvariant() : "";
        try
        {
            if (name.Length == 0) Bad(ManageSieveReplies.Syntax("a command starts with its name"));
            else await ExecuteAsync(new ManageSieveCommand(name, tokens.Skip(1).ToArray()), ct);
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException or SocketException or ObjectDisposedException or AuthenticationException))
        {
            _logger.LogError(e, "ManageSieve {Command} failed for {User} from {Client}", name, _user, _remote);
            _conn.WriteLine(ManageSieveReplies.InternalError);
        }
    }

    private static readonly HashSet<string> AnyState = ["CAPABILITY", "LOGOUT", "NOOP"];
    private static readonly HashSet<string> NonAuthenticatedOnly = ["AUTHENTICATE", "STARTTLS"];
    private static readonly HashSet<string> AuthenticatedOnly =
        ["HAVESPACE", "PUTSCRIPT", "CHECKSCRIPT", "LISTSCRIPTS", "SETACTIVE", "GETSCRIPT", "DELETESCRIPT", "RENAMESCRIPT", "UNAUTHENTICATE"];

    private async Task ExecuteAsync(ManageSieveCommand command, CancellationToken ct)
    {
        var name = command.Name;
        if (!AnyState.Contains(name) && !NonAuthenticatedOnly.Contains(name) && !AuthenticatedOnly.Contains(name))
        {
            Bad(ManageSieveReplies.UnknownCommand(CommandReader.Shorten(name)));
            return;
        }
        if (AuthenticatedOnly.Contains(name) && _state != ManageSieveState.Authenticated)
        {
            Bad(ManageSieveReplies.AuthenticateFirst(name));
            return;
        }
        if (NonAuthenticatedOnly.Contains(name) && _state == ManageSieveState.Authenticated)
        {
            Bad(name == "AUTHENTICATE" ? ManageSieveReplies.AlreadyAuthenticated : ManageSieveReplies.NotAfterLogin(name));
            return;
        }
        var args = command.Arguments;
        switch (name)
        {
            case "CAPABILITY" when args.Count == 0:
                WriteCapabilities();
                _conn.WriteLine(ManageSieveReplies.CapabilityDone);
                break;
            case "LOGOUT" when args.Count == 0:
                _conn.WriteLine(ManageSieveReplies.Logout);
                _closing = true;
                break;
            case "NOOP" when args.Count == 0 || (args.Count == 1 && args[0].Kind == TokenKind.String):
                _conn.WriteLine(ManageSieveReplies.Noop(args.Count == 1 ? args[0].Text : null));
                break;
            case "STARTTLS" when args.Count == 0: await StartTlsAsync(ct); break;
            case "AUTHENTICATE" when args.Count is 1 or 2 && args[0].Kind is TokenKind.String or TokenKind.Atom && (args.Count == 1 || args[1].Kind == TokenKind.String):
                await AuthenticateAsync(args[0].Text, args.Count == 2 ? args[1].Text : null, ct);
                break;
            case "UNAUTHENTICATE" when args.Count == 0:
                _logger.LogInformation("ManageSieve unauthenticate {User} from {Client}", _user, _remote);
                _state = ManageSieveState.NonAuthenticated;
                _user = "";
                _conn.WriteLine(ManageSieveReplies.Unauthenticated);
                break;
            case "HAVESPACE" when args.Count == 2 && args[0].Kind == TokenKind.String && args[1].Kind == TokenKind.Number:
                await HaveSpaceAsync(args[0].Text, args[1].Text, ct);
                break;
            case "PUTSCRIPT" when args.Count == 2 && args[0].Kind == TokenKind.String && args[1].Kind == TokenKind.String:
                await PutScriptAsync(args[0].Text, args[1], ct);
                break;
            case "CHECKSCRIPT" when args.Count == 1 && args[0].Kind == TokenKind.String:
                if (Compile(args[0]) is { } error) _conn.WriteLine(error);
                else _conn.WriteLine(ManageSieveReplies.ScriptValid);
                break;
            case "LISTSCRIPTS" when args.Count == 0:
                foreach (var (script, active) in await Scripts.ListAsync(_user, ct))
                    _conn.WriteLine(active ? ManageSieveReplies.String(script) + " ACTIVE" : ManageSieveReplies.String(script));
                _conn.WriteLine(ManageSieveReplies.Listed);
                break;
            case "SETACTIVE" when args.Count == 1 && args[0].Kind == TokenKind.String: await SetActiveAsync(args[0].Text, ct); break;
            case "GETSCRIPT" when args.Count == 1 && args[0].Kind == TokenKind.String: await GetScriptAsync(args[0].Text, ct); break;
            case "DELETESCRIPT" when args.Count == 1 && args[0].Kind == TokenKind.String: await DeleteScriptAsync(args[0].Text, ct); break;
            case "RENAMESCRIPT" when args.Count == 2 && args[0].Kind == TokenKind.String && args[1].Kind == TokenKind.String:
                await RenameScriptAsync(args[0].Text, args[1].Text, ct);
                break;
            default: Bad(ManageSieveReplies.BadArguments(name, Usage(name))); break;
        }
    }

    private static string Usage(string name) => name switch
    {
        "AUTHENTICATE" => "\"PLAIN\" [initial-response]",
        "NOOP" => "[tag]",
        "HAVESPACE" => "name size",
        "PUTSCRIPT" => "name script",
        "CHECKSCRIPT" => "script",
        "SETACTIVE" or "GETSCRIPT" or "DELETESCRIPT" => "name",
        "RENAMESCRIPT" => "old-name new-name",
        _ => "(no arguments)",
    };

    /// <summary>RFC 5804 section 1.7. SASL is empty while a login would be refused for want of TLS (Dovecot does the
    /// same); STARTTLS only before TLS and login; OWNER once logged in.</summary>
    private void WriteCapabilities()
    {
        _conn.WriteLine("\"IMPLEMENTATION\" \"Mail.ManageSieve\"");
        _conn.WriteLine("\"SIEVE\" " + ManageSieveReplies.String(string.Join(' ', SieveScript.SupportedExtensions)));
        _conn.WriteLine("\"MAXREDIRECTS\" " + ManageSieveReplies.String(new SieveLimits().MaxRedirects.ToString(CultureInfo.InvariantCulture)));
        if (_state == ManageSieveState.NonAuthenticated)
        {
            _conn.WriteLine("\"SASL\" " + (LoginAllowed ? "\"PLAIN\"" : "\"\""));
            if (!_tls && _options.Certificate is not null) _conn.WriteLine("\"STARTTLS\"");
        }
        else _conn.WriteLine("\"OWNER\" " + ManageSieveReplies.String(_user));
        _conn.WriteLine("\"UNAUTHENTICATE\"");
        _conn.WriteLine("\"VERSION\" \"1.0\"");
    }

    private async Task StartTlsAsync(CancellationToken ct)
    {
        switch (ServerTls.CheckStartTls(_tls, _options.Certificate, _conn))
        {
            case StartTlsRefusal.AlreadyActive: Bad(ManageSieveReplies.TlsActive); return;
            case StartTlsRefusal.NoCertificate: Bad(ManageSieveReplies.TlsUnavailable); return;
            case StartTlsRefusal.DataAfterCommand:
                _conn.WriteLine(ManageSieveReplies.DataAfterStartTls);
                _closing = true;
                return;
        }
        await ServerTls.StartTlsAsync(_conn, ManageSieveReplies.BeginTls, _options.Certificate!, ct);
        _tls = true;
        // RFC 5804 2.2: after the handshake the server sends its capabilities again, now without STARTTLS.
        WriteCapabilities();
        _conn.WriteLine(ManageSieveReplies.TlsDone);
    }

    private async Task AuthenticateAsync(string mechanism, string? initialResponse, CancellationToken ct)
    {
        if (!mechanism.Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
        {
            _conn.WriteLine(ManageSieveReplies.MechanismUnsupported);
            return;
        }
        if (!LoginAllowed)
        {
            _conn.WriteLine(ManageSieveReplies.PlaintextDisallowed);
            return;
        }
        var response = initialResponse;
        if (response is null)
        {
            // RFC 5804 2.1: the challenge is a string (empty for PLAIN); the answer one string, "*" to cancel.
            _conn.WriteLine(ManageSieveReplies.SaslContinue);
            await _conn.FlushAsync(ct);
            var read = await _reader.ReadAsync(ct);
            if (read.IsEnd) throw new IOException("Connection closed during AUTHENTICATE");
            if (read.Fatal)
            {
                _conn.WriteLine(read.Refusal!);
                _closing = true;
                return;
            }
            if (read.Refusal is { } refusal)
            {
                Bad(refusal);
                return;
            }
            if (read.Tokens is not [{ Kind: TokenKind.String } answer])
            {
                Bad(ManageSieveReplies.Syntax("the SASL response is one string"));
                return;
            }
            if (answer.Text == "*")
            {
                _conn.WriteLine(ManageSieveReplies.AuthCancelled);
                return;
            }
            response = answer.Text;
        }
        if (SaslPlain.Parse(response.Trim(), out var error) is not { } plain)
        {
            Bad(ManageSieveReplies.BadSasl(error!));
            return;
        }
        if (plain.ActsAsAnother)
        {
            _conn.WriteLine(ManageSieveReplies.ActsAsAnother);
            return;
        }
        await SignInAsync(plain.User, plain.Password, ct);
    }

    private async Task SignInAsync(string name, string password, CancellationToken ct)
    {
        var (outcome, user) = await GatewayLogin.SignInAsync(_services.Directory, _throttle, "ManageSieve", name, password, _remote.Address, _options.FailedLoginDelay, _services.Time, _logger, ct);
        if (outcome != LoginOutcome.LoggedIn)
        {
            _conn.WriteLine(outcome == LoginOutcome.Throttled ? ManageSieveReplies.Throttled : ManageSieveReplies.InvalidCredentials);
            return;
        }
        _user = user!;
        _state = ManageSieveState.Authenticated;
        _logger.LogInformation("ManageSieve login {User} from {Client}", _user, _remote.Address);
        _conn.WriteLine(ManageSieveReplies.LoggedIn);
    }

    /// <summary>The refusal of a script that is too large or does not compile, or null: Pigeonhole's NO with the
    /// compiler's first error and its line.</summary>
    private string? Compile(Token script)
    {
        if (script.Octets > _options.MaxScriptSize) return ManageSieveReplies.TooLarge(script.Octets, _options.MaxScriptSize);
        return SieveScript.Check(script.Text) is { } error ? ManageSieveReplies.CompileError(error.Message) : null;
    }

    /// <summary>The refusal of a new script under <paramref name="name"/>, or null: a bad name, or one script too many.</summary>
    private async Task<string?> RoomForAsync(string name, CancellationToken ct)
    {
        if (SieveScripts.CheckName(name) is { } why) return ManageSieveReplies.BadName(why);
        if (await Scripts.GetAsync(_user, name, ct) is null && (await Scripts.ListAsync(_user, ct)).Count >= SieveScripts.MaxScripts)
            return ManageSieveReplies.TooMany(SieveScripts.MaxScripts);
        return null;
    }

    private async Task HaveSpaceAsync(string name, string size, CancellationToken ct)
    {
        if (!long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var octets))
        {
            Bad(ManageSieveReplies.BadArguments("HAVESPACE", Usage("HAVESPACE")));
            return;
        }
        if (octets > _options.MaxScriptSize) _conn.WriteLine(ManageSieveReplies.TooLarge(octets, _options.MaxScriptSize));
        else _conn.WriteLine(await RoomForAsync(name, ct) ?? ManageSieveReplies.HaveSpace);
    }

    private async Task PutScriptAsync(string name, Token script, CancellationToken ct)
    {
        if (await RoomForAsync(name, ct) is { } refusal)
        {
            _conn.WriteLine(refusal);
            return;
        }
        if (Compile(script) is { } error)
        {
            _conn.WriteLine(error);
            return;
        }
        await Scripts.PutAsync(_user, name, script.Text, ct);
        _logger.LogInformation("ManageSieve {User} stored script {Name} ({Octets} octets)", _user, name, script.Octets);
        _conn.WriteLine(ManageSieveReplies.Stored);
    }

    private async Task SetActiveAsync(string name, CancellationToken ct)
    {
        if (name.Length == 0)
        {
            await Scripts.DeactivateAsync(_user, ct);
            _conn.WriteLine(ManageSieveReplies.Deactivated);
        }
        else _conn.WriteLine(await Scripts.ActivateAsync(_user, name, ct) ? ManageSieveReplies.Activated : ManageSieveReplies.NoSuchScript(name));
    }

    private async Task GetScriptAsync(string name, CancellationToken ct)
    {
        if (await Scripts.GetAsync(_user, name, ct) is not { } script)
        {
            _conn.WriteLine(ManageSieveReplies.NoSuchScript(name));
            return;
        }
        // Always a literal: a script is several lines, and its octets are given exactly.
        _conn.WriteLine("{" + Encoding.UTF8.GetByteCount(script) + "}");
        _conn.WriteLine(script);
        _conn.WriteLine(ManageSieveReplies.Got);
    }

    private async Task DeleteScriptAsync(string name, CancellationToken ct)
    {
        if (await Scripts.GetAsync(_user, name, ct) is null) _conn.WriteLine(ManageSieveReplies.NoSuchScript(name));
        else if (await Scripts.GetActiveNameAsync(_user, ct) == name) _conn.WriteLine(ManageSieveReplies.ActiveScript(name));
        else
        {
            var (removed, _) = await Scripts.RemoveAsync(_user, name, ct);
            _conn.WriteLine(removed ? ManageSieveReplies.Deleted : ManageSieveReplies.NoSuchScript(name));
        }
    }

    private async Task RenameScriptAsync(string name, string newName, CancellationToken ct)
    {
        if (SieveScripts.CheckName(newName) is { } why) _conn.WriteLine(ManageSieveReplies.BadName(why));
        else if (await Scripts.GetAsync(_user, name, ct) is null) _conn.WriteLine(ManageSieveReplies.NoSuchScript(name));
        else if (await Scripts.GetAsync(_user, newName, ct) is not null) _conn.WriteLine(ManageSieveReplies.AlreadyExists(newName));
        else
        {
            var (renamed, _) = await Scripts.RenameAsync(_user, name, newName, ct);
            _conn.WriteLine(renamed ? ManageSieveReplies.Renamed : ManageSieveReplies.NoSuchScript(name));
        }
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
