using System.Text;

namespace Mail.Core.Accounts;

/// <summary>The SASL PLAIN message (RFC 4616): "authzid NUL authcid NUL passwd", base64 on the wire, "=" for an
/// empty one. The IMAP, POP3 and ManageSieve gateways and SMTP AUTH read it here; acting as another user (an authzid
/// that is not the authcid) is refused by the caller.</summary>
public readonly record struct SaslPlain(string AuthorizationId, string User, string Password)
{
    /// <summary>Null with <paramref name="error"/> set when the response is not base64 or not three fields.</summary>
    public static SaslPlain? Parse(string response, out string? error)
    {
        byte[] decoded;
        try
        {
            decoded = response == "=" ? [] : Convert.FromBase64String(response);
        }
        catch (FormatException)
        {
            error = "Authentication response is not base64";
            return null;
        }
        if (FromDecoded(Encoding.UTF8.GetString(decoded)) is not { } plain)
        {
            error = "PLAIN response must be authzid NUL authcid NUL password";
            return null;
        }
        error = null;
        return plain;
    }

    /// <summary>The three fields of a response already decoded from base64 (SMTP decodes it itself, to answer a bad
    /// encoding with its own enhanced codes); null when it is not three fields.</summary>
    public static SaslPlain? FromDecoded(string message)
    {
        var parts = message.Split('\0');
        return parts.Length == 3 ? new SaslPlain(parts[0], parts[1], parts[2]) : null;
    }

    /// <summary>True when the client asks to act as someone other than the user it authenticates as.</summary>
    public bool ActsAsAnother =>
        AuthorizationId.Length > 0 && !string.Equals(MailDirectory.Canonical(AuthorizationId), MailDirectory.Canonical(User), StringComparison.Ordinal);
}
