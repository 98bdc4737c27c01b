using System.Net;
using System.Text;
using System.Xml.Linq;
using Mail.Testing;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Mail.Host.Tests;

/// <summary>
/// Autoconfig:Endpoint on a running `mail serve`: Thunderbird's config-v1.1.xml (checked element by element against
/// the published format, wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat) and Outlook's POX
/// autodiscover, over real HTTP (HttpClient and Python's urllib); 404 for a domain we do not serve; and the ports
/// the documents name are the ones a client logs in on.
/// </summary>
[Collection("host")]
public sealed class AutoconfigHostTests : IDisposable
{
    private static readonly XNamespace Response = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
    private static readonly XNamespace Outlook = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Thunderbird_and_outlook_find_imap_and_submission_for_our_domain_only()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        var (http, imaps, submission, submissions, admin) = (FreePort.Tcp(), FreePort.Tcp(), FreePort.Tcp(), FreePort.Tcp(), FreePort.Tcp());
        await using var host = await HostProcess.StartAsync(_data.Path, $"--Admin:Endpoint=127.0.0.1:{admin}",
            $"--Autoconfig:Endpoint=127.0.0.1:{http}", "--Smtp:HostName=mail.example.org", "--Imap:HostName=mail.example.org",
            $"--Imap:Listeners:1:Endpoint=127.0.0.1:{imaps}",
            $"--Smtp:Listeners:1:Endpoint=127.0.0.1:{submission}", "--Smtp:Listeners:1:Role=Submission",
            $"--Smtp:Listeners:2:Endpoint=127.0.0.1:{submissions}", "--Smtp:Listeners:2:Role=Submission", "--Smtp:Listeners:2:ImplicitTls=true");
        Assert.Contains($"listening http autoconfig 127.0.0.1:{http}", host.Output, StringComparison.Ordinal);
        Assert.Contains($"listening http console 127.0.0.1:{admin}", host.Output, StringComparison.Ordinal);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };

        // One HTTP host, each listener with its own routes: no console page or API on the autoconfig port (not even the
        // sign-in form), no autoconfig on the console's.
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        foreach (var path in new[] { "/", "/signin", "/api/users", "/static/console.css" })
            using (var r = await noRedirect.GetAsync($"http://127.0.0.1:{http}{path}")) Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        using (var r = await noRedirect.GetAsync($"http://127.0.0.1:{admin}/signin")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await noRedirect.GetAsync($"http://127.0.0.1:{admin}/mail/config-v1.1.xml?emailaddress=alice%40example.org"))
            Assert.NotEqual(HttpStatusCode.OK, r.StatusCode); // the console's guard: to /signin

        var response = await client.GetAsync("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/xml", response.Content.Headers.ContentType?.MediaType);
        var config = XDocument.Parse(await response.Content.ReadAsStringAsync());
        var servers = ValidateClientConfig(config, "example.org");
        Assert.Equal(("imap", "mail.example.org", imaps, "SSL"), servers[0]);
        Assert.Contains(("imap", "mail.example.org", host.ImapPort, "STARTTLS"), servers);
        Assert.Contains(("pop3", "mail.example.org", host.Pop3sPort, "SSL"), servers);
        Assert.Contains(("pop3", "mail.example.org", host.Pop3Port, "STARTTLS"), servers);
        Assert.Contains(("smtp", "mail.example.org", submissions, "SSL"), servers);
        Assert.Contains(("smtp", "mail.example.org", submission, "STARTTLS"), servers);
        Assert.DoesNotContain(servers, s => s.Port == host.SmtpPort); // the MX listener is not for clients

        // What the document says works: alice logs in over IMAP with implicit TLS on the port it names.
        // The self-signed certificate made for Smtp:HostName.
        using (var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => c?.Subject.Contains("mail.example.org", StringComparison.Ordinal) == true })
        {
            await imap.ConnectAsync("127.0.0.1", servers[0].Port, SecureSocketOptions.SslOnConnect);
            await imap.AuthenticateAsync("alice@example.org", "secret");
            await imap.DisconnectAsync(true);
        }

        // autoconfig.DOMAIN/mail/config-v1.1.xml: the domain from the Host header.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/mail/config-v1.1.xml"))
        {
            request.Headers.Host = "autoconfig.example.org";
            var byHost = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, byHost.StatusCode);
            ValidateClientConfig(XDocument.Parse(await byHost.Content.ReadAsStringAsync()), "example.org");
        }
        // Not ours: 404, and nothing about the domain.
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40other.test")).StatusCode);
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/mail/config-v1.1.xml"))
        {
            request.Headers.Host = "autoconfig.other.test";
            Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(request)).StatusCode);
        }

        // Outlook: POX autodiscover.
        var pox = await client.PostAsync("/autodiscover/autodiscover.xml", new StringContent(AutodiscoverRequest("alice@example.org"), Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.OK, pox.StatusCode);
        var answer = XDocument.Parse(await pox.Content.ReadAsStringAsync());
        Assert.Equal(Response + "Autodiscover", answer.Root!.Name);
        var account = answer.Root.Element(Outlook + "Response")!.Element(Outlook + "Account")!;
        Assert.Equal("email", account.Element(Outlook + "AccountType")!.Value);
        Assert.Equal("settings", account.Element(Outlook + "Action")!.Value);
        var protocols = account.Elements(Outlook + "Protocol").ToDictionary(p => p.Element(Outlook + "Type")!.Value);
        Assert.Equal(["IMAP", "POP3", "SMTP"], protocols.Keys.Order());
        Assert.Equal(imaps.ToString(), protocols["IMAP"].Element(Outlook + "Port")!.Value);
        Assert.Equal("SSL", protocols["IMAP"].Element(Outlook + "Encryption")!.Value);
        Assert.Equal(submissions.ToString(), protocols["SMTP"].Element(Outlook + "Port")!.Value);
        Assert.All(protocols.Values, p =>
        {
            Assert.Equal("mail.example.org", p.Element(Outlook + "Server")!.Value);
            Assert.Equal("alice@example.org", p.Element(Outlook + "LoginName")!.Value);
            Assert.Equal("on", p.Element(Outlook + "SSL")!.Value);
        });
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync("/autodiscover/autodiscover.xml", new StringContent(AutodiscoverRequest("bob@other.test")))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsync("/autodiscover/autodiscover.xml", new StringContent("<not xml"))).StatusCode);
        // A DTD (an entity expansion attack) is refused, not expanded.
        var dtd = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"alice@example.org\">]>" + AutodiscoverRequest("&x;")[AutodiscoverRequest("&x;").IndexOf("<Autodiscover", StringComparison.Ordinal)..];
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsync("/autodiscover/autodiscover.xml", new StringContent(dtd))).StatusCode);

        // Python's urllib and ElementTree read the same document, as a client written elsewhere would.
        var python = await ExternalProcess.RunAsync("python3", ["-c", $$"""
            import urllib.request, urllib.error, xml.etree.ElementTree as ET
            base = "http://127.0.0.1:{{http}}"
            with urllib.request.urlopen(base + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@example.org") as r:
                root = ET.fromstring(r.read())
            assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
            for s in root.find("emailProvider"):
                if s.tag in ("incomingServer", "outgoingServer"):
                    print(s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"))
            try:
                urllib.request.urlopen(base + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob@other.test")
            except urllib.error.HTTPError as e:
                print("other", e.code)
            """], timeout: TimeSpan.FromSeconds(60));
        Assert.True(python.ExitCode == 0, python.StdOut + python.StdErr);
        Assert.Contains($"imap mail.example.org {imaps} SSL", python.StdOut, StringComparison.Ordinal);
        Assert.Contains($"smtp mail.example.org {submission} STARTTLS", python.StdOut, StringComparison.Ordinal);
        Assert.Contains("other 404", python.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_endpoint_is_one_line_naming_the_setting()
    {
        var run = await HostProcess.AdminAsync(_data.Path, "serve", "--Autoconfig:Endpoint=localhost");
        Assert.Equal(78, run.ExitCode);
        Assert.Equal("mail: configuration error: Autoconfig:Endpoint 'localhost' is not an address and port, e.g. 0.0.0.0:80", run.StdErr.Trim());
    }

    private static string AutodiscoverRequest(string address) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
          <Request>
            <EMailAddress>{address}</EMailAddress>
            <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
          </Request>
        </Autodiscover>
        """;

    /// <summary>The clientConfig 1.1 format: its elements and their allowed values, nothing else; returns the servers in order.</summary>
    private static List<(string Type, string Host, int Port, string Socket)> ValidateClientConfig(XDocument document, string domain)
    {
        var root = document.Root!;
        Assert.Equal("clientConfig", root.Name.LocalName);
        Assert.Equal(XNamespace.None, root.Name.Namespace);
        Assert.Equal("1.1", root.Attribute("version")?.Value);
        var provider = Assert.Single(root.Elements());
        Assert.Equal("emailProvider", provider.Name.LocalName);
        Assert.Equal(domain, provider.Attribute("id")?.Value);
        Assert.Contains(domain, provider.Elements("domain").Select(d => d.Value));
        Assert.False(string.IsNullOrWhiteSpace(provider.Element("displayName")?.Value));
        string[] providerChildren = ["domain", "displayName", "displayShortName", "incomingServer", "outgoingServer", "documentation"];
        Assert.All(provider.Elements(), e => Assert.Contains(e.Name.LocalName, providerChildren));
        var servers = new List<(string, string, int, string)>();
        foreach (var server in provider.Elements().Where(e => e.Name.LocalName is "incomingServer" or "outgoingServer"))
        {
            var type = server.Attribute("type")!.Value;
            Assert.Contains(type, server.Name.LocalName == "incomingServer" ? ["imap", "pop3"] : new[] { "smtp" });
            string[] serverChildren = ["hostname", "port", "socketType", "username", "authentication"];
            Assert.Equal(serverChildren.Order(), server.Elements().Select(e => e.Name.LocalName).Order());
            var port = int.Parse(server.Element("port")!.Value);
            Assert.InRange(port, 1, 65535);
            var socket = server.Element("socketType")!.Value;
            Assert.Contains(socket, new[] { "plain", "SSL", "STARTTLS" });
            Assert.NotEqual("plain", socket); // passwords only over TLS
            Assert.Contains(server.Element("authentication")!.Value, new[] { "password-cleartext", "password-encrypted", "NTLM", "GSSAPI", "client-IP-address", "TLS-client-cert", "OAuth2", "none" });
            Assert.Equal("%EMAILADDRESS%", server.Element("username")!.Value);
            servers.Add((type, server.Element("hostname")!.Value, port, socket));
        }
        return servers;
    }
}
