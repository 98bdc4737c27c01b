using System.Net;
using System.Text;
using Mail.Core.Accounts;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// AUTH (RFC 4954) with SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), Submission listeners only.
internal sealed partial class SmtpSession
{
    private static readonly Encoding s_strictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);

    /// <summary>AUTH is offered on Submission listeners once TLS is up (or in the clear to loopback clients when allowed).</summary>
    private bool AuthOffered =>
        _listener.Role == SmtpListenerRole.Submission
        && (Facts.Tls is not null || (_options.AllowPlaintextAuthOnLoopback && IPAddress.IsLoopback(Facts.ClientEndPoint.Address)));

    private async ValueTask<bool> AuthAsync(string? argument)
    {
        if (_listener.Role != SmtpListenerRole.Submission)
        {
            Reply(SmtpReplies.AuthNotEnabled);
            return true;
        }
        if (_state == SmtpState.Connected || !Facts.Esmtp)
        {
            Reply(SmtpReplies.SendEhloFirst);
            return true;
        }
        if (Facts.AuthenticatedUser is not null)
        {
            Reply(SmtpReplies.AlreadyAuthenticated);
            return true;
        }
        if (InTransaction)
        {
            Reply(SmtpReplies.AuthInTransaction);
            return true;
        }
        if (!AuthOffered)
        {
            Reply(SmtpReplies.EncryptionRequired);
            return true;
        }
        var parts = (argument ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2)
        {
            Reply(SmtpReplies.AuthSyntax);
            return true;
        }
        var mechanism = parts[0].ToUpperInvariant();
        if (mechanism is not ("PLAIN" or "LOGIN"))
        {
            Reply(SmtpReplies.AuthMechanismUnrecognized);
            return true;
        }
        var initial = parts.Length == 2 ? parts[1] : null;
        string authzid = "", user, password;
        if (mechanism == "PLAIN")
        {
            // RFC 4616: [authzid] NUL authcid NUL passwd. Without an initial response the server sends an empty challenge.
            var step = initial is null ? await ChallengeAsync("") : DecodeInitial(initial);
            if (step.Response is not { } response) return step.KeepOpen;
            if (SaslPlain.FromDecoded(response) is not { User.Length: > 0 } plain)
            {
                Reply(SmtpReplies.InvalidPlainResponse);
                return true;
            }
            (authzid, user, password) = (plain.AuthorizationId, plain.User, plain.Password);
        }
        else
        {
            // LOGIN: "Username:" then "Password:"; an initial response is the user name.
            var step = initial is null ? await ChallengeAsync("Username:") : DecodeInitial(initial);
            if (step.Response is not { } name) return step.KeepOpen;
            var pw = await ChallengeAsync("Password:");
            if (pw.Response is not { } secret) return pw.KeepOpen;
            (user, password) = (name, secret);
        }

        string? identity;
        var started = _services.Time.GetTimestamp();
        try
        {
            // The password hash is deliberately slow (PBKDF2): keep it off the I/O thread.
            identity = await Task.Run(() => _services.Directory.AuthenticateAsync(user, password));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Session {SessionId}: user directory unavailable for AUTH", Facts.SessionId);
            Reply(SmtpReplies.AuthTemporaryFailure);
            return true;
        }
        // We support no proxy authorization: an authzid, if given, must name the user itself.
        if (identity is null || (authzid.Length > 0 && MailDirectory.Canonical(authzid) != identity))
        {
            _logger.LogWarning("Session {SessionId}: AUTH {Mechanism} failed for {User} from {Client}", Facts.SessionId, mechanism, user, Facts.ClientEndPoint.Address);
            // Answer a fixed time after the credentials arrived, so an unknown user (no hash to check) and a wrong
            // password (a slow hash) look alike, and guessing is slowed down.
            var wait = _options.AuthFailureDelay - _services.Time.GetElapsedTime(started);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, _services.Time);
            Reply(SmtpReplies.AuthCredentialsInvalid);
            return true;
        }
        Facts.AuthenticatedUser = identity;
        _logger.LogInformation("Session {SessionId}: authenticated as {User} ({Mechanism})", Facts.SessionId, identity, mechanism);
        _reply.Write(SmtpReplies.AuthSuccessful);
        return true;
    }

    /// <summary>The outcome of one SASL step: the decoded response, or null with whether the session goes on (the reply is written).</summary>
    private readonly record struct SaslStep(string? Response, bool KeepOpen);

    private SaslStep DecodeInitial(string initial)
    {
        // RFC 4954 4: "=" is an empty initial response.
        if (initial == "=") return new("", true);
        return Decode(initial);
    }

    private SaslStep Decode(string text)
    {
        var bytes = new byte[text.Length];
        if (text.Length % 4 != 0 || !Convert.TryFromBase64String(text, bytes, out var n))
        {
            Reply(SmtpReplies.CannotDecodeResponse);
            return new(null, true);
        }
        try
        {
            return new(s_strictUtf8.GetString(bytes, 0, n), true);
        }
        catch (DecoderFallbackException)
        {
            Reply(SmtpReplies.ResponseNotUtf8);
            return new(null, true);
        }
    }

    /// <summary>Sends "334 base64(challenge)" and reads the client's line; "*" cancels (RFC 4954 4: 501).</summary>
    private async ValueTask<SaslStep> ChallengeAsync(string challenge)
    {
        _reply.Write(SmtpReplies.Challenge(Convert.ToBase64String(Encoding.ASCII.GetBytes(challenge))));
        var line = await ReadCommandAsync(raw: true);
        if (line is not { } l) return new(null, false);
        if (l.Verb == Protocol.SmtpVerb.Invalid)
        {
            Reply(SmtpReplies.ResponseSyntax(l.Error));
            return new(null, true);
        }
        var text = l.Argument ?? "";
        if (text == "*")
        {
            Reply(SmtpReplies.AuthCancelled);
            return new(null, true);
        }
        return Decode(text);
    }
}
