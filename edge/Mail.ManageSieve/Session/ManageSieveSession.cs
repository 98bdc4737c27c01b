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
internal sealed class ManageSieveSession : LineProtocolSession<ManageSieveCommand>
{
    private static readonly SessionEndReplies EndReplies =
        new(ManageSieveReplies.TooManyBadCommands, ManageSieveReplies.IdleTimeout, ManageSieveReplies.ShuttingDown, ManageSieveReplies.InternalError);

    private readonly ManageSieveServerOptions _options;
    private readonly ManageSieveServices _services;
    private readonly LoginThrottle _throttle;
    private readonly CommandReader _reader;
    private ManageSieveState _state = ManageSieveState.NonAuthenticated;
    private bool _tls;

    public ManageSieveSession(Socket socket, IPEndPoint client, ManageSieveServerOptions options, ManageSieveServices services, LoginThrottle throttle, ILogger logger)
        : base(socket, client, "ManageSieve", EndReplies, options.MaxBadCommands, logger)
    {
        _options = options;
        _services = services;
        _throttle = throttle;
        _reader = new CommandReader(Conn, options.MaxLineLength, options.MaxScriptSize);
    }

    private bool LoginAllowed => _tls || (_options.AllowPlaintextLoginOnLoopback && IPAddress.IsLoopback(Remote.Address));

    private SieveScripts Scripts => _services.Directory.Sieve;

    protected override TimeSpan IdleTimeout => _options.IdleTimeout;

    protected override Task GreetAsync(CancellationToken stopping)
    {
        WriteCapabilities();
        Conn.WriteLine(ManageSieveReplies.Greeting(_options.HostName));
        return Task.CompletedTask;
    }

    protected override async ValueTask<CommandRead<ManageSieveCommand>> ReadCommandAsync(CancellationToken ct)
    {
        var read = await _reader.ReadAsync(ct);
        if (read.Command is not { } tokens) return new(null, read.Refusal, read.Fatal);
        return tokens is [{ Kind: TokenKind.Atom } name, ..]
            ? CommandRead<ManageSieveCommand>.Of(new ManageSieveCommand(name.Text.ToUpperInvariant(), tokens.Skip(1).ToArray()))
            : CommandRead<ManageSieveCommand>.Refused(ManageSieveReplies.Syntax("a command starts with its name"));
    }

    protected override string NameOf(ManageSieveCommand command) => command.Name;

    private static readonly HashSet<string> AnyState = ["CAPABILITY", "LOGOUT", "NOOP"];
    private static readonly HashSet<string> NonAuthenticatedOnly = ["AUTHENTICATE", "STARTTLS"];
    private static readonly HashSet<string> AuthenticatedOnly =
        ["HAVESPACE", "PUTSCRIPT", "CHECKSCRIPT", "LISTSCRIPTS", "SETACTIVE", "GETSCRIPT", "DELETESCRIPT", "RENAMESCRIPT", "UNAUTHENTICATE"];

    protected override async Task ExecuteAsync(ManageSieveCommand command, CancellationToken ct)
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
                Conn.WriteLine(ManageSieveReplies.CapabilityDone);
                break;
            case "LOGOUT" when args.Count == 0:
                Conn.WriteLine(ManageSieveReplies.Logout);
                Closing = true;
                break;
            case "NOOP" when args.Count == 0 || (args.Count == 1 && args[0].Kind == TokenKind.String):
                Conn.WriteLine(ManageSieveReplies.Noop(args.Count == 1 ? args[0].Text : null));
                break;
            case "STARTTLS" when args.Count == 0: await StartTlsAsync(ct); break;
            case "AUTHENTICATE" when args.Count is 1 or 2 && args[0].Kind is TokenKind.String or TokenKind.Atom && (args.Count == 1 || args[1].Kind == TokenKind.String):
                await AuthenticateAsync(args[0].Text, args.Count == 2 ? args[1].Text : null, ct);
                break;
            case "UNAUTHENTICATE" when args.Count == 0:
                Logger.LogInformation("ManageSieve unauthenticate {User} from {Client}", SignedInUser, Remote);
                _state = ManageSieveState.NonAuthenticated;
                SignedInUser = "";
                Conn.WriteLine(ManageSieveReplies.Unauthenticated);
                break;
            case "HAVESPACE" when args.Count == 2 && args[0].Kind == TokenKind.String && args[1].Kind == TokenKind.Number:
                await HaveSpaceAsync(args[0].Text, args[1].Text, ct);
                break;
            case "PUTSCRIPT" when args.Count == 2 && args[0].Kind == TokenKind.String && args[1].Kind == TokenKind.String:
                await PutScriptAsync(args[0].Text, args[1], ct);
                break;
            case "CHECKSCRIPT" when args.Count == 1 && args[0].Kind == TokenKind.String:
                if (Compile(args[0]) is { } error) Conn.WriteLine(error);
                else Conn.WriteLine(ManageSieveReplies.ScriptValid);
                break;
            case "LISTSCRIPTS" when args.Count == 0:
                foreach (var (script, active) in await Scripts.ListAsync(SignedInUser, ct))
                    Conn.WriteLine(active ? ManageSieveReplies.String(script) + " ACTIVE" : ManageSieveReplies.String(script));
                Conn.WriteLine(ManageSieveReplies.Listed);
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
        Conn.WriteLine("\"IMPLEMENTATION\" \"Mail.ManageSieve\"");
        Conn.WriteLine("\"SIEVE\" " + ManageSieveReplies.String(string.Join(' ', SieveScript.SupportedExtensions)));
        Conn.WriteLine("\"MAXREDIRECTS\" " + ManageSieveReplies.String(new SieveLimits().MaxRedirects.ToString(CultureInfo.InvariantCulture)));
        if (_state == ManageSieveState.NonAuthenticated)
        {
            Conn.WriteLine("\"SASL\" " + (LoginAllowed ? "\"PLAIN\"" : "\"\""));
            if (!_tls && _options.Certificate is not null) Conn.WriteLine("\"STARTTLS\"");
        }
        else Conn.WriteLine("\"OWNER\" " + ManageSieveReplies.String(SignedInUser));
        Conn.WriteLine("\"UNAUTHENTICATE\"");
        Conn.WriteLine("\"VERSION\" \"1.0\"");
    }

    private async Task StartTlsAsync(CancellationToken ct)
    {
        switch (ServerTls.CheckStartTls(_tls, _options.Certificate, Conn))
        {
            case StartTlsRefusal.AlreadyActive: Bad(ManageSieveReplies.TlsActive); return;
            case StartTlsRefusal.NoCertificate: Bad(ManageSieveReplies.TlsUnavailable); return;
            case StartTlsRefusal.DataAfterCommand:
                Conn.WriteLine(ManageSieveReplies.DataAfterStartTls);
                Closing = true;
                return;
        }
        await ServerTls.StartTlsAsync(Conn, ManageSieveReplies.BeginTls, _options.Certificate!, ct);
        _tls = true;
        // RFC 5804 2.2: after the handshake the server sends its capabilities again, now without STARTTLS.
        WriteCapabilities();
        Conn.WriteLine(ManageSieveReplies.TlsDone);
    }

    private async Task AuthenticateAsync(string mechanism, string? initialResponse, CancellationToken ct)
    {
        if (!mechanism.Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
        {
            Conn.WriteLine(ManageSieveReplies.MechanismUnsupported);
            return;
        }
        if (!LoginAllowed)
        {
            Conn.WriteLine(ManageSieveReplies.PlaintextDisallowed);
            return;
        }
        var response = initialResponse;
        if (response is null)
        {
            // RFC 5804 2.1: the challenge is a string (empty for PLAIN); the answer one string, "*" to cancel.
            Conn.WriteLine(ManageSieveReplies.SaslContinue);
            await Conn.FlushAsync(ct);
            var read = await _reader.ReadAsync(ct);
            if (read.IsEnd) throw new IOException("Connection closed during AUTHENTICATE");
            if (read.Fatal)
            {
                Conn.WriteLine(read.Refusal!);
                Closing = true;
                return;
            }
            if (read.Refusal is { } refusal)
            {
                Bad(refusal);
                return;
            }
            if (read.Command is not [{ Kind: TokenKind.String } answer])
            {
                Bad(ManageSieveReplies.Syntax("the SASL response is one string"));
                return;
            }
            if (answer.Text == "*")
            {
                Conn.WriteLine(ManageSieveReplies.AuthCancelled);
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
            Conn.WriteLine(ManageSieveReplies.ActsAsAnother);
            return;
        }
        await SignInAsync(plain.User, plain.Password, ct);
    }

    private async Task SignInAsync(string name, string password, CancellationToken ct)
    {
        var (outcome, user) = await GatewayLogin.SignInAsync(_services.Directory, _throttle, "ManageSieve", name, password, Remote.Address, _options.FailedLoginDelay, _services.Time, Logger, ct);
        if (outcome != LoginOutcome.LoggedIn)
        {
            Conn.WriteLine(outcome == LoginOutcome.Throttled ? ManageSieveReplies.Throttled : ManageSieveReplies.InvalidCredentials);
            return;
        }
        SignedInUser = user!;
        _state = ManageSieveState.Authenticated;
        Logger.LogInformation("ManageSieve login {User} from {Client}", SignedInUser, Remote.Address);
        Conn.WriteLine(ManageSieveReplies.LoggedIn);
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
        if (await Scripts.GetAsync(SignedInUser, name, ct) is null && (await Scripts.ListAsync(SignedInUser, ct)).Count >= SieveScripts.MaxScripts)
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
        if (octets > _options.MaxScriptSize) Conn.WriteLine(ManageSieveReplies.TooLarge(octets, _options.MaxScriptSize));
        else Conn.WriteLine(await RoomForAsync(name, ct) ?? ManageSieveReplies.HaveSpace);
    }

    private async Task PutScriptAsync(string name, Token script, CancellationToken ct)
    {
        if (await RoomForAsync(name, ct) is { } refusal)
        {
            Conn.WriteLine(refusal);
            return;
        }
        if (Compile(script) is { } error)
        {
            Conn.WriteLine(error);
            return;
        }
        await Scripts.PutAsync(SignedInUser, name, script.Text, ct);
        Logger.LogInformation("ManageSieve {User} stored script {Name} ({Octets} octets)", SignedInUser, name, script.Octets);
        Conn.WriteLine(ManageSieveReplies.Stored);
    }

    private async Task SetActiveAsync(string name, CancellationToken ct)
    {
        if (name.Length == 0)
        {
            await Scripts.DeactivateAsync(SignedInUser, ct);
            Conn.WriteLine(ManageSieveReplies.Deactivated);
        }
        else Conn.WriteLine(await Scripts.ActivateAsync(SignedInUser, name, ct) ? ManageSieveReplies.Activated : ManageSieveReplies.NoSuchScript(name));
    }

    private async Task GetScriptAsync(string name, CancellationToken ct)
    {
        if (await Scripts.GetAsync(SignedInUser, name, ct) is not { } script)
        {
            Conn.WriteLine(ManageSieveReplies.NoSuchScript(name));
            return;
        }
        // Always a literal: a script is several lines, and its octets are given exactly.
        Conn.WriteLine("{" + Encoding.UTF8.GetByteCount(script) + "}");
        Conn.WriteLine(script);
        Conn.WriteLine(ManageSieveReplies.Got);
    }

    private async Task DeleteScriptAsync(string name, CancellationToken ct)
    {
        if (await Scripts.GetAsync(SignedInUser, name, ct) is null) Conn.WriteLine(ManageSieveReplies.NoSuchScript(name));
        else if (await Scripts.GetActiveNameAsync(SignedInUser, ct) == name) Conn.WriteLine(ManageSieveReplies.ActiveScript(name));
        else
        {
            var (removed, _) = await Scripts.RemoveAsync(SignedInUser, name, ct);
            Conn.WriteLine(removed ? ManageSieveReplies.Deleted : ManageSieveReplies.NoSuchScript(name));
        }
    }

    private async Task RenameScriptAsync(string name, string newName, CancellationToken ct)
    {
        if (SieveScripts.CheckName(newName) is { } why) Conn.WriteLine(ManageSieveReplies.BadName(why));
        else if (await Scripts.GetAsync(SignedInUser, name, ct) is null) Conn.WriteLine(ManageSieveReplies.NoSuchScript(name));
        else if (await Scripts.GetAsync(SignedInUser, newName, ct) is not null) Conn.WriteLine(ManageSieveReplies.AlreadyExists(newName));
        else
        {
            var (renamed, _) = await Scripts.RenameAsync(SignedInUser, name, newName, ct);
            Conn.WriteLine(renamed ? ManageSieveReplies.Renamed : ManageSieveReplies.NoSuchScript(name));
        }
    }
}
