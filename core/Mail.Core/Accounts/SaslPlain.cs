using System.Text;

namespace Mail.Core.Accounts;

/// <summary>The SASL PLAIN message (RFC 4616): "authzid NUL authcid NUL passwd", base64 on the wire, "=" for an
/// empty one. The IMAP and POP3 gateways read it here; acting as another user (an authzid that is not the authcid)
/// is refused by the caller.</summary>
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
        var parts = Encoding.UTF8.GetString(decoded).Split('\0');
        if (parts.Length != 3)
        {
            error = "PLAIN response must be authzid NUL authcid NUL password";
            return null;
        }
        error = null;
        return new SaslPlain(parts[0], parts[1], parts[2]);
    }

    /// <summary>True when the client asks to act as someone other than the user it authenticates as.</summary>
    public bool ActsAsAnother =>
        AuthorizationId.Length > 0 && !string.Equals(MailDirectory.Canonical(AuthorizationId), MailDirectory.Canonical(User), StringComparison.Ordinal);
}
