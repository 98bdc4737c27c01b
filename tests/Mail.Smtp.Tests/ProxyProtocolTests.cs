using System.Net;
using Microsoft.Extensions.Options;

namespace Mail.Smtp.Tests;

/// <summary>An MX listener behind a proxy (Smtp:Listeners:N:ProxyProtocol): the client the PROXY header names is the
/// client for relay permission, the envelope and Received:; everyone else is closed; a listener without the option
/// answers a PROXY line as any unknown command.</summary>
public sealed class ProxyProtocolTests
{
    private static Task<SmtpTestServer> StartProxiedAsync(Action<SmtpServerOptions>? configure = null) =>
        SmtpTestServer.StartAsync(o =>
        {
            o.Listeners[0].ProxyProtocol = true;
            o.ProxyNetworks = ["127.0.0.1"];
            o.ProxyTimeout = TimeSpan.FromSeconds(1);
            configure?.Invoke(o);
        });

    [Fact]
    public async Task Proxied_client_relays_from_mynetworks_and_is_named_in_the_envelope_and_received()
    {
        // Only the proxied address is in mynetworks: relaying works only if the header's client replaced the proxy.
        await using var s = await StartProxiedAsync(o => o.MyNetworks = ["192.0.2.0/24"]);
        using var c = RawSmtpClient.Connect(s.Mx, IPAddress.Parse("127.0.0.1"));
        // The header and the first command in one write: the EHLO must not be lost with the header.
        await c.SendAsync("PROXY TCP4 192.0.2.7 198.51.100.2 40000 25\r\nEHLO relay.client.test\r\n");
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        var ehlo = await c.ReadReplyAsync();
        Assert.Equal(250, ehlo.Code);
        Assert.Contains("[192.0.2.7]", ehlo.Lines[0], StringComparison.Ordinal);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<app@internal.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<someone@elsewhere.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: proxied\r\n\r\nx\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("192.0.2.7", env.Client.Address);
        Assert.Equal(40000, env.Client.Port);
        Assert.Contains("Received: from relay.client.test ([192.0.2.7])", await s.ReadMessageAsync(env.MessageRef), StringComparison.Ordinal);
    }

    [Fact]
    public async Task V2_header_with_ipv6_client_is_the_client()
    {
        await using var s = await StartProxiedAsync();
        using var c = RawSmtpClient.Connect(s.Mx, IPAddress.Parse("127.0.0.1"));
        byte[] addresses = [.. IPAddress.Parse("2001:db8::9").GetAddressBytes(), .. IPAddress.Parse("2001:db8::1").GetAddressBytes(), 0x9C, 0x40, 0, 25];
        byte[] header = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x21, 0, (byte)addresses.Length, .. addresses];
        await c.SendAsync(header);
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        Assert.Contains("[2001:db8::9]", (await c.EhloAsync()).Lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Implicit_tls_listener_reads_the_header_before_the_handshake()
    {
        await using var s = await StartProxiedAsync(o => o.Listeners[2].ProxyProtocol = true);
        using var tcp = new System.Net.Sockets.TcpClient(new IPEndPoint(IPAddress.Loopback, 0));
        await tcp.ConnectAsync(s.Submissions);
        await tcp.GetStream().WriteAsync("PROXY TCP6 2001:db8::9 2001:db8::1 40000 465\r\n"u8.ToArray());
        await using var ssl = new System.Net.Security.SslStream(tcp.GetStream(), false, SmtpTestServer.IsTestCertificate);
        await ssl.AuthenticateAsClientAsync("mx.example.test");
        using var reader = new StreamReader(ssl);
        Assert.StartsWith("220 ", await reader.ReadLineAsync(), StringComparison.Ordinal);
        await ssl.WriteAsync("EHLO client.test\r\n"u8.ToArray());
        Assert.Contains("[2001:db8::9]", await reader.ReadLineAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Header_from_outside_proxy_networks_is_refused_by_closing()
    {
        await using var s = await StartProxiedAsync();
        using var c = RawSmtpClient.Connect(s.Mx, IPAddress.Parse("127.0.0.2"));
        await c.SendAsync("PROXY TCP4 192.0.2.7 198.51.100.2 40000 25\r\n");
        Assert.True(await c.IsClosedAsync());
    }

    [Theory]
    [InlineData("EHLO client.test\r\n")]                     // no header: a client that bypassed the proxy
    [InlineData("PROXY TCP4 192.0.2.7 nowhere 40000 25\r\n")] // a broken header
    [InlineData("")]                                         // silence until Smtp:ProxyTimeout
    public async Task Connection_without_a_valid_header_is_closed_without_a_greeting(string sent)
    {
        await using var s = await StartProxiedAsync();
        using var c = RawSmtpClient.Connect(s.Mx, IPAddress.Parse("127.0.0.1"));
        if (sent.Length > 0) await c.SendAsync(sent);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Listener_without_the_option_answers_a_proxy_line_as_an_unknown_command()
    {
        await using var s = await StartProxiedAsync();
        using var c = RawSmtpClient.Connect(s.Submission);
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        Assert.StartsWith("500 5.5.2", (await c.CommandAsync("PROXY TCP4 192.0.2.7 198.51.100.2 40000 25")).Last, StringComparison.Ordinal);
        Assert.Contains("[127.0.0.1]", (await c.EhloAsync()).Lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Proxy_protocol_without_proxy_networks_or_with_a_bad_one_is_a_startup_error_naming_it()
    {
        var o = new SmtpServerOptions { Listeners = [new SmtpListenerOptions { Endpoint = "127.0.0.1:0", ProxyProtocol = true }] };
        var e = Assert.Throws<OptionsValidationException>(o.Validate);
        Assert.Contains("Smtp:Listeners:0:ProxyProtocol needs Smtp:ProxyNetworks", e.Message, StringComparison.Ordinal);
        o.ProxyNetworks = ["10.0.0.0/8", "10.0.0.0/33"];
        e = Assert.Throws<OptionsValidationException>(o.Validate);
        Assert.Contains("Smtp:ProxyNetworks:1 '10.0.0.0/33'", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ProxyProtocol needs", e.Message, StringComparison.Ordinal);
    }
}
