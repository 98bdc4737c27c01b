using Mail.Core.Accounts;
using Mail.Core.Listening;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>The not-authenticated state's commands (RFC 9051 6.2): STARTTLS, LOGIN, AUTHENTICATE PLAIN (RFC 4616,
/// with RFC 4959 SASL-IR); a login moves the session to the authenticated state.</summary>
internal sealed partial class ImapSession
{
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
}
