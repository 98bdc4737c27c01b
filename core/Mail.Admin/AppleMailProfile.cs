using System.Security.Cryptography;
using System.Text;
using System.Xml;
using Mail.Admin.Dns;
using Mail.Core.Accounts;

namespace Mail.Admin;

/// <summary>
/// An Apple configuration profile (<c>.mobileconfig</c>) that sets up one user's mail account on iOS, iPadOS and macOS:
/// one <c>com.apple.mail.managed</c> payload with IMAP over implicit TLS (the <c>_imaps._tcp</c> listener, else port
/// 993) and submission with STARTTLS (the <c>_submission._tcp</c> listener, else port 587), both signed in as the
/// user's address; the device asks for the password. The profile is not signed (the device shows it as "Not Signed"
/// and installs it all the same); its identifiers derive from the host and address, so a second download replaces the
/// account instead of adding another.
/// </summary>
public static class AppleMailProfile
{
    public const string ContentType = "application/x-apple-aspen-config";

    public static string FileName(string address) => address + ".mobileconfig";

    /// <summary>The server a client uses for IMAP and for submission, from the listeners this server opens.</summary>
    public static ((string Host, int Port) Imap, (string Host, int Port) Submission) Servers(MailHostProfile host)
    {
        var mx = host.MxHost.Trim().TrimEnd('.');
        var imap = host.Services.FirstOrDefault(s => s.Service == "_imaps._tcp");
        var submission = host.Services.FirstOrDefault(s => s.Service == "_submission._tcp");
        return ((imap?.Host ?? mx, imap?.Port ?? 993), (submission?.Host ?? mx, submission?.Port ?? 587));
    }

    /// <summary>The profile's XML property list for <paramref name="address"/> (canonical).</summary>
    public static string Build(MailHostProfile host, string address)
    {
        var user = MailDirectory.Canonical(address) ?? throw new AdminException($"'{address}' is not an address (local@domain)");
        var ((imapHost, imapPort), (smtpHost, smtpPort)) = Servers(host);
        var domain = user[(user.LastIndexOf('@') + 1)..];
        var reverse = string.Join('.', host.MxHost.Trim().TrimEnd('.').ToLowerInvariant().Split('.').Reverse());
        var text = new StringBuilder();
        using (var x = XmlWriter.Create(text, new XmlWriterSettings { Indent = true, Encoding = Encoding.UTF8 }))
        {
            x.WriteStartDocument();
            x.WriteDocType("plist", "-//Apple//DTD PLIST 1.0//EN", "http://www.apple.com/DTDs/PropertyList-1.0.dtd", null);
            x.WriteStartElement("plist");
            x.WriteAttributeString("version", "1.0");
            x.WriteStartElement("dict");
            Key(x, "PayloadContent");
            x.WriteStartElement("array");
            x.WriteStartElement("dict");
            String(x, "EmailAccountDescription", user);
            String(x, "EmailAccountName", user);
            String(x, "EmailAccountType", "EmailTypeIMAP");
            String(x, "EmailAddress", user);
            String(x, "IncomingMailServerAuthentication", "EmailAuthPassword");
            String(x, "IncomingMailServerHostName", imapHost);
            Integer(x, "IncomingMailServerPortNumber", imapPort);
            Bool(x, "IncomingMailServerUseSSL", true);
            String(x, "IncomingMailServerUsername", user);
            String(x, "OutgoingMailServerAuthentication", "EmailAuthPassword");
            String(x, "OutgoingMailServerHostName", smtpHost);
            Integer(x, "OutgoingMailServerPortNumber", smtpPort);
            // On a submission port "SSL" is STARTTLS to Apple's mail client (it upgrades, and refuses to go on without).
            Bool(x, "OutgoingMailServerUseSSL", true);
            String(x, "OutgoingMailServerUsername", user);
            Bool(x, "OutgoingPasswordSameAsIncomingPassword", true);
            String(x, "PayloadDescription", $"Mail account {user}");
            String(x, "PayloadDisplayName", $"Mail ({user})");
            String(x, "PayloadIdentifier", $"{reverse}.mail.{user}.account");
            String(x, "PayloadType", "com.apple.mail.managed");
            String(x, "PayloadUUID", Uuid($"account|{host.MxHost}|{user}"));
            Integer(x, "PayloadVersion", 1);
            x.WriteEndElement();
            x.WriteEndElement();
            String(x, "PayloadDescription", $"Sets up the mail account {user} of {domain} (IMAP {imapHost}:{imapPort}, SMTP {smtpHost}:{smtpPort}).");
            String(x, "PayloadDisplayName", $"Mail {user}");
            String(x, "PayloadIdentifier", $"{reverse}.mail.{user}");
            Bool(x, "PayloadRemovalDisallowed", false);
            String(x, "PayloadType", "Configuration");
            String(x, "PayloadUUID", Uuid($"profile|{host.MxHost}|{user}"));
            Integer(x, "PayloadVersion", 1);
            x.WriteEndElement();
            x.WriteEndElement();
            x.WriteEndDocument();
        }
        // StringBuilder output says utf-16 in the declaration; the file is sent as UTF-8.
        return text.ToString().Replace("encoding=\"utf-16\"", "encoding=\"UTF-8\"", StringComparison.Ordinal);
    }

    /// <summary>A UUID that is the same for the same input (the first 16 bytes of its SHA-256, as an RFC 9562 version 8 UUID).</summary>
    private static string Uuid(string seed)
    {
        var b = SHA256.HashData(Encoding.UTF8.GetBytes(seed)).AsSpan(0, 16).ToArray();
        b[6] = (byte)((b[6] & 0x0F) | 0x80);
        b[8] = (byte)((b[8] & 0x3F) | 0x80);
        return $"{Convert.ToHexString(b, 0, 4)}-{Convert.ToHexString(b, 4, 2)}-{Convert.ToHexString(b, 6, 2)}-{Convert.ToHexString(b, 8, 2)}-{Convert.ToHexString(b, 10, 6)}";
    }

    private static void Key(XmlWriter x, string key) => x.WriteElementString("key", key);

    private static void String(XmlWriter x, string key, string value)
    {
        Key(x, key);
        x.WriteElementString("string", value);
    }

    private static void Integer(XmlWriter x, string key, int value)
    {
        Key(x, key);
        x.WriteElementString("integer", value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static void Bool(XmlWriter x, string key, bool value)
    {
        Key(x, key);
        x.WriteStartElement(value ? "true" : "false");
        x.WriteEndElement(); // <true />

    }
}
