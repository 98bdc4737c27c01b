using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Mail.Host.Http.Autoconfig;

/// <summary>
/// The two documents clients ask for, built from <see cref="ClientServers"/>:
/// Thunderbird's <c>config-v1.1.xml</c> (clientConfig version 1.1, wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat)
/// and Outlook's POX autodiscover response (schema outlook/responseschema/2006a, [MS-OXDISCO] / [MS-OXDSCLI]).
/// Both name the user's full address as the login, which is what our IMAP, POP3 and SMTP AUTH take.
/// </summary>
public sealed class AutoconfigDocuments(ClientServers servers)
{
    public const string ContentType = "text/xml; charset=utf-8";
    public static readonly XNamespace AutodiscoverRequest = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
    public static readonly XNamespace AutodiscoverResponse = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
    public static readonly XNamespace OutlookResponse = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    /// <summary>Thunderbird's clientConfig for <paramref name="domain"/>; %EMAILADDRESS% is the client's placeholder for the address typed.</summary>
    public string Thunderbird(string domain)
    {
        XElement Server(string element, ClientServer s) => new(element, new XAttribute("type", s.Protocol),
            new XElement("hostname", s.HostName),
            new XElement("port", s.Port.ToString(CultureInfo.InvariantCulture)),
            new XElement("socketType", s.Socket == ClientSocket.Ssl ? "SSL" : "STARTTLS"),
            new XElement("authentication", "password-cleartext"),
            new XElement("username", "%EMAILADDRESS%"));
        var provider = new XElement("emailProvider", new XAttribute("id", domain),
            new XElement("domain", domain),
            new XElement("displayName", domain),
            new XElement("displayShortName", domain));
        foreach (var s in servers.Incoming) provider.Add(Server("incomingServer", s));
        foreach (var s in servers.Outgoing) provider.Add(Server("outgoingServer", s));
        return Text(new XDocument(new XDeclaration("1.0", "utf-8", null), new XElement("clientConfig", new XAttribute("version", "1.1"), provider)));
    }

    /// <summary>Outlook's POX answer for <paramref name="address"/>: one Protocol per server, IMAP/POP3 then SMTP.</summary>
    public string Autodiscover(string address)
    {
        XElement Protocol(string type, ClientServer s) => new(OutlookResponse + "Protocol",
            new XElement(OutlookResponse + "Type", type),
            new XElement(OutlookResponse + "Server", s.HostName),
            new XElement(OutlookResponse + "Port", s.Port.ToString(CultureInfo.InvariantCulture)),
            new XElement(OutlookResponse + "LoginName", address),
            new XElement(OutlookResponse + "DomainRequired", "off"),
            new XElement(OutlookResponse + "SPA", "off"),
            // SSL on with Encryption: "SSL" is implicit TLS, "TLS" is STARTTLS ([MS-OXDSCLI] 2.2.4.1.1.2.2).
            new XElement(OutlookResponse + "SSL", "on"),
            new XElement(OutlookResponse + "Encryption", s.Socket == ClientSocket.Ssl ? "SSL" : "TLS"),
            new XElement(OutlookResponse + "AuthRequired", "on"));
        var account = new XElement(OutlookResponse + "Account",
            new XElement(OutlookResponse + "AccountType", "email"),
            new XElement(OutlookResponse + "Action", "settings"));
        // Outlook takes the first Protocol of each Type: the preferred listener of each protocol.
        foreach (var s in servers.Incoming.DistinctBy(s => s.Protocol)) account.Add(Protocol(s.Protocol.ToUpperInvariant(), s));
        if (servers.Outgoing.FirstOrDefault() is { } smtp) account.Add(Protocol("SMTP", smtp));
        return Text(new XDocument(new XDeclaration("1.0", "utf-8", null),
            new XElement(AutodiscoverResponse + "Autodiscover", new XElement(OutlookResponse + "Response", account))));
    }

    /// <summary>The address of a POX request (<c>Request/EMailAddress</c>), or null when the body is not one.
    /// No DTD, no external entities: the body comes from anyone.</summary>
    public static string? RequestedAddress(Stream body)
    {
        try
        {
            using var reader = XmlReader.Create(body, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, MaxCharactersInDocument = 64 * 1024 });
            var document = XDocument.Load(reader);
            return document.Root?.Element(AutodiscoverRequest + "Request")?.Element(AutodiscoverRequest + "EMailAddress")?.Value.Trim();
        }
        catch (XmlException)
        {
            return null;
        }
    }

    private static string Text(XDocument document)
    {
        using var writer = new Utf8StringWriter();
        document.Save(writer);
        return writer.ToString();
    }

    private sealed class Utf8StringWriter : StringWriter
    {
        public Utf8StringWriter() : base(CultureInfo.InvariantCulture) { }
        public override System.Text.Encoding Encoding => new System.Text.UTF8Encoding(false);
    }
}
