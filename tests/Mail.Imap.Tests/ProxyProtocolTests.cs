using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Mail.Imap.Tests;

/// <summary>IMAP listeners behind a proxy (Imap:Listeners:N:ProxyProtocol): the relayed client is the client for the
/// loopback rule and the login throttle; the TLS handshake right behind the header is not lost; a listener without
/// the option answers a PROXY line as a bad command.</summary>
public sealed class ProxyProtocolTests
{
    private static Task<ImapTestServer> StartAsync() => ImapTestServer.StartAsync(o =>
    {
        foreach (var l in o.Listeners) l.ProxyProtocol = l.Name == "imaps" || l.Name == "imap";
        o.ProxyNetworks = ["127.0.0.1"];
        o.ProxyTimeout = TimeSpan.FromSeconds(1);
    });

    private static async Task<string> FirstLineAsync(Stream s)
    {
        var line = new StringBuilder();
        var b = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await s.ReadAsync(b, timeout.Token) == 1 && b[0] != '\n') line.Append((char)b[0]);
        return line.ToString().TrimEnd('\r');
    }

    [Fact]
    public async Task Relayed_client_off_loopback_gets_logindisabled_though_the_proxy_is_on_loopback()
    {
        await using var s = await StartAsync();
        using var tcp = new TcpClient(new IPEndPoint(IPAddress.Loopback, 0));
        await tcp.ConnectAsync(s.Plain);
        var stream = tcp.GetStream();
        await stream.WriteAsync("PROXY TCP4 192.0.2.7 198.51.100.2 40000 143\r\n"u8.ToArray());
        var greeting = await FirstLineAsync(stream);
        Assert.StartsWith("* OK", greeting, StringComparison.Ordinal);
        Assert.Contains("LOGINDISABLED", greeting, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_handshake_sent_right_behind_the_header_works_on_an_implicit_tls_listener()
    {
        await using var s = await StartAsync();
        using var tcp = new TcpClient(new IPEndPoint(IPAddress.Loopback, 0));
        await tcp.ConnectAsync(s.Tls);
        // The header, then at once the ClientHello: the gateway must hand the socket to TLS with the hello unread.
        await tcp.GetStream().WriteAsync("PROXY TCP4 127.0.0.9 198.51.100.2 40000 993\r\n"u8.ToArray());
        await using var ssl = new SslStream(tcp.GetStream(), false, ImapTestServer.TrustTestCertificate);
        await ssl.AuthenticateAsClientAsync("imap.example.test");
        var greeting = await FirstLineAsync(ssl);
        Assert.StartsWith("* OK", greeting, StringComparison.Ordinal);
        Assert.Contains("AUTH=PLAIN", greeting, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Peer_outside_proxy_networks_is_closed_without_a_greeting()
    {
        await using var s = await StartAsync();
        using var tcp = new TcpClient(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        await tcp.ConnectAsync(s.Plain);
        var stream = tcp.GetStream();
        await stream.WriteAsync("PROXY TCP4 192.0.2.7 198.51.100.2 40000 143\r\n"u8.ToArray());
        int n;
        try
        {
            n = await stream.ReadAsync(new byte[64]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (IOException)
        {
            n = 0;
        }
        Assert.Equal(0, n);
    }

    [Fact]
    public async Task Listener_without_the_option_answers_a_proxy_line_as_a_bad_command()
    {
        await using var s = await ImapTestServer.StartAsync();
        await using var c = await RawImapClient.ConnectAsync(s.Plain.Port);
        Assert.StartsWith("* OK", c.Greeting, StringComparison.Ordinal);
        var reply = await c.CommandAsync("PROXY", "TCP4 192.0.2.7 198.51.100.2 40000 143");
        Assert.StartsWith("PROXY BAD", reply[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void Proxy_protocol_without_proxy_networks_is_a_startup_error_naming_it()
    {
        var o = new ImapServerOptions { Listeners = [new ImapListenerOptions { Endpoint = "127.0.0.1:0", ProxyProtocol = true }] };
        Assert.Equal("Imap:Listeners:0:ProxyProtocol needs Imap:ProxyNetworks (the addresses of the proxies whose header is believed).",
            Assert.Throws<InvalidOperationException>(o.Validate).Message);
        o.ProxyNetworks = ["10.0.0.0/8", "10.0.0"];
        Assert.StartsWith("Imap:ProxyNetworks:1 '10.0.0'", Assert.Throws<InvalidOperationException>(o.Validate).Message, StringComparison.Ordinal);
    }
}
