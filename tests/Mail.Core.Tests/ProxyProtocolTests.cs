using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Listening;

namespace Mail.Core.Tests;

/// <summary>HAProxy's PROXY protocol (proxy-protocol.txt): the v1 text line and the v2 binary header, and the reader
/// that takes the header off a socket and nothing after it.</summary>
public sealed class ProxyProtocolTests
{
    private static ProxyParseStatus Parse(byte[] data, out ProxyProtocolHeader? header, out int consumed, out string? error) =>
        ProxyProtocolHeader.TryParse(data, out header, out consumed, out error);

    private static ProxyProtocolHeader Complete(byte[] data, int expectedLength)
    {
        Assert.Equal(ProxyParseStatus.Complete, Parse(data, out var header, out var consumed, out var error));
        Assert.Null(error);
        Assert.Equal(expectedLength, consumed);
        return header!;
    }

    private static string Invalid(byte[] data)
    {
        Assert.Equal(ProxyParseStatus.Invalid, Parse(data, out var header, out _, out var error));
        Assert.Null(header);
        return error!;
    }

    // ---- v1 --------------------------------------------------------------------------------

    [Fact]
    public void V1_tcp4_gives_both_endpoints_and_leaves_what_follows()
    {
        var line = "PROXY TCP4 192.0.2.7 198.51.100.2 56324 25\r\n";
        var h = Complete(Encoding.ASCII.GetBytes(line + "EHLO client.test\r\n"), line.Length);
        Assert.Equal(1, h.Version);
        Assert.Equal(ProxyCommand.Proxy, h.Command);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 56324), h.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.2"), 25), h.Destination);
    }

    [Fact]
    public void V1_tcp6()
    {
        var line = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 143\r\n";
        var h = Complete(Encoding.ASCII.GetBytes(line), line.Length);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 65535), h.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 143), h.Destination);
    }

    [Theory]
    [InlineData("PROXY UNKNOWN\r\n")]
    [InlineData("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")]
    public void V1_unknown_has_no_addresses(string line)
    {
        var h = Complete(Encoding.ASCII.GetBytes(line), line.Length);
        Assert.Null(h.Source);
        Assert.Null(h.Destination);
    }

    [Fact]
    public void V1_longest_line_of_the_spec_is_accepted()
    {
        var full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        var line = $"PROXY TCP6 {full} {full} 65535 65535\r\n";
        Assert.Equal(ProxyProtocolHeader.V1MaxLength - 3, line.Length);
        Complete(Encoding.ASCII.GetBytes(line), line.Length);
        var unknown = "PROXY UNKNOWN " + new string('x', ProxyProtocolHeader.V1MaxLength - 16) + "\r\n";
        Assert.Equal(ProxyProtocolHeader.V1MaxLength, unknown.Length);
        Complete(Encoding.ASCII.GetBytes(unknown), unknown.Length);
    }

    [Fact]
    public void V1_longer_than_107_bytes_is_refused_without_waiting_for_its_end()
    {
        var tooLong = "PROXY UNKNOWN " + new string('x', ProxyProtocolHeader.V1MaxLength - 15) + "\r\n";
        Assert.Contains("longer than 107", Invalid(Encoding.ASCII.GetBytes(tooLong)), StringComparison.Ordinal);
        Assert.Contains("longer than 107", Invalid(Encoding.ASCII.GetBytes("PROXY TCP4 " + new string('1', 200))), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("P")]
    [InlineData("PROX")]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 56324")]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 56324 25\r")]
    public void V1_truncated_is_incomplete(string text)
    {
        Assert.Equal(ProxyParseStatus.Incomplete, Parse(Encoding.ASCII.GetBytes(text), out var h, out var consumed, out var error));
        Assert.Null(h);
        Assert.Equal(0, consumed);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 56324 25\n")]            // LF without CR
    [InlineData("PROXY TCP5 192.0.2.7 198.51.100.2 56324 25\r\n")]          // no such protocol
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 56324\r\n")]             // a field missing
    [InlineData("PROXY TCP4  192.0.2.7 198.51.100.2 56324 25\r\n")]         // two spaces
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 56324 25 \r\n")]         // trailing space
    [InlineData("PROXY TCP4 2001:db8::7 198.51.100.2 56324 25\r\n")]        // IPv6 under TCP4
    [InlineData("PROXY TCP6 192.0.2.7 2001:db8::1 56324 25\r\n")]           // IPv4 under TCP6
    [InlineData("PROXY TCP4 10.1 198.51.100.2 56324 25\r\n")]               // inet_aton shorthand
    [InlineData("PROXY TCP6 fe80::7%eth0 2001:db8::1 56324 25\r\n")]        // a zone of the proxy's host
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 65536 25\r\n")]          // port out of range
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 -1 25\r\n")]             // signed port
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.2 +1 25\r\n")]
    [InlineData("PROXY TCP4 192.0.2.7\t198.51.100.2 1 25\r\n")]            // a control character
    [InlineData("proxy TCP4 192.0.2.7 198.51.100.2 56324 25\r\n")]          // the keyword is upper case
    [InlineData("PROXYTCP4 192.0.2.7 198.51.100.2 56324 25\r\n")]
    [InlineData("EHLO client.test\r\n")]                                    // no header at all
    public void V1_malformed_is_invalid(string text) => Assert.NotEmpty(Invalid(Encoding.ASCII.GetBytes(text)));

    // ---- v2 --------------------------------------------------------------------------------

    /// <summary>A v2 header: signature, version 2 with <paramref name="command"/>, <paramref name="family"/>, the
    /// length of <paramref name="body"/> (addresses, then TLVs), then the body.</summary>
    private static byte[] V2(byte command, byte family, byte[] body)
    {
        var bytes = new List<byte>(ProxyProtocolHeader.V2Signature.ToArray()) { (byte)(0x20 | command), family, (byte)(body.Length >> 8), (byte)body.Length };
        bytes.AddRange(body);
        return [.. bytes];
    }

    /// <summary>An AF_INET or AF_INET6 address block: source, destination, source port, destination port.</summary>
    private static byte[] Addresses(string source, string destination, ushort sourcePort, ushort destinationPort) =>
        [.. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes(),
            (byte)(sourcePort >> 8), (byte)sourcePort, (byte)(destinationPort >> 8), (byte)destinationPort];

    [Fact]
    public void V2_proxy_tcp4()
    {
        var header = V2(1, 0x11, Addresses("192.0.2.7", "198.51.100.2", 56324, 25));
        var h = Complete([.. header, .. "EHLO x\r\n"u8.ToArray()], 16 + 12);
        Assert.Equal(2, h.Version);
        Assert.Equal(ProxyCommand.Proxy, h.Command);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 56324), h.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.2"), 25), h.Destination);
    }

    [Fact]
    public void V2_proxy_tcp6()
    {
        var h = Complete(V2(1, 0x21, Addresses("2001:db8::7", "2001:db8::1", 1, 993)), 16 + 36);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 1), h.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 993), h.Destination);
    }

    [Fact]
    public void V2_tlvs_after_the_addresses_are_skipped()
    {
        // PP2_TYPE_ALPN "smtp" and PP2_TYPE_NOOP with three bytes, as HAProxy may add.
        byte[] tlvs = [0x01, 0x00, 0x04, .. "smtp"u8.ToArray(), 0x04, 0x00, 0x03, 0, 0, 0];
        var header = V2(1, 0x11, [.. Addresses("192.0.2.7", "198.51.100.2", 56324, 25), .. tlvs]);
        var h = Complete([.. header, .. "EHLO"u8.ToArray()], 16 + 12 + tlvs.Length);
        Assert.Equal(IPAddress.Parse("192.0.2.7"), h.Source!.Address);
    }

    [Fact]
    public void V2_local_ignores_any_addresses()
    {
        var h = Complete(V2(0, 0x00, []), 16);
        Assert.Equal(ProxyCommand.Local, h.Command);
        Assert.Null(h.Source);
        var withAddresses = Complete(V2(0, 0x11, Addresses("192.0.2.7", "198.51.100.2", 1, 2)), 28);
        Assert.Equal(ProxyCommand.Local, withAddresses.Command);
        Assert.Null(withAddresses.Source);
    }

    [Fact]
    public void V2_unspec_and_unix_families_carry_no_client_address()
    {
        Assert.Null(Complete(V2(1, 0x00, [1, 2, 3]), 19).Source);
        Assert.Null(Complete(V2(1, 0x31, new byte[216]), 16 + 216).Source);
    }

    [Fact]
    public void V2_truncated_is_incomplete_at_every_length()
    {
        var header = V2(1, 0x21, [.. Addresses("2001:db8::7", "2001:db8::1", 1, 993), 0x04, 0x00, 0x01, 0]);
        for (var n = 1; n < header.Length; n++)
            Assert.Equal(ProxyParseStatus.Incomplete, Parse(header[..n], out _, out _, out _));
        Complete(header, header.Length);
    }

    [Fact]
    public void V2_malformed_is_invalid()
    {
        var good = V2(1, 0x11, Addresses("192.0.2.7", "198.51.100.2", 1, 2));
        var badSignature = (byte[])good.Clone();
        badSignature[7] = (byte)'X';
        Assert.Contains("not a PROXY", Invalid(badSignature), StringComparison.Ordinal);
        var version1 = (byte[])good.Clone();
        version1[12] = 0x11;
        Assert.Contains("version 1", Invalid(version1), StringComparison.Ordinal);
        var command2 = (byte[])good.Clone();
        command2[12] = 0x22;
        Assert.Contains("command 2", Invalid(command2), StringComparison.Ordinal);
        var family4 = (byte[])good.Clone();
        family4[13] = 0x41;
        Assert.Contains("family", Invalid(family4), StringComparison.Ordinal);
        // AF_INET needs 12 bytes of addresses; a length of 8 cannot hold them.
        Assert.Contains("shorter than its addresses", Invalid(V2(1, 0x11, new byte[8])), StringComparison.Ordinal);
        Assert.Contains("shorter than its addresses", Invalid(V2(1, 0x21, new byte[12])), StringComparison.Ordinal);
    }

    // ---- the reader, over a real socket -------------------------------------------------------

    private static async Task<(Socket Server, Socket Client, TcpListener Listener)> PairAsync(IPAddress? clientAddress = null)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (clientAddress is not null) client.Bind(new IPEndPoint(clientAddress, 0));
        await client.ConnectAsync(listener.LocalEndpoint);
        var server = await listener.AcceptSocketAsync();
        return (server, client, listener);
    }

    [Fact]
    public async Task Reader_takes_the_header_and_leaves_the_bytes_after_it_in_the_socket()
    {
        var (server, client, listener) = await PairAsync();
        using var _ = server;
        using var __ = client;
        listener.Stop();
        // A v1 header sent in pieces (the reader must wait, not spin or fail), the last one with the client's first line.
        await client.SendAsync("PROXY TCP4 192.0.2.7 "u8.ToArray());
        var read = ProxyProtocolReader.AcceptAsync(server, new ClientNetworks(["127.0.0.0/8"]), TimeSpan.FromSeconds(10), CancellationToken.None);
        await Task.Delay(100);
        Assert.False(read.IsCompleted);
        await client.SendAsync("198.51.100.2 56324 25\r\nEHLO client.test\r\n"u8.ToArray());
        var (source, destination) = await read;
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 56324), source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.2"), 25), destination);
        var rest = new byte[64];
        var n = await server.ReceiveAsync(rest);
        Assert.Equal("EHLO client.test\r\n", Encoding.ASCII.GetString(rest, 0, n));
    }

    [Fact]
    public async Task Reader_with_a_v2_header_and_tlvs_in_one_segment_leaves_the_rest()
    {
        var (server, client, listener) = await PairAsync();
        using var _ = server;
        using var __ = client;
        listener.Stop();
        byte[] tlvs = [0x04, 0x00, 0x02, 0, 0];
        byte[] sent = [.. V2(1, 0x11, [.. Addresses("192.0.2.8", "198.51.100.2", 40000, 143), .. tlvs]), .. "a1 CAPABILITY\r\n"u8.ToArray()];
        await client.SendAsync(sent);
        var (source, _) = await ProxyProtocolReader.AcceptAsync(server, new ClientNetworks(["127.0.0.1"]), TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(IPAddress.Parse("192.0.2.8"), source.Address);
        var rest = new byte[64];
        Assert.Equal("a1 CAPABILITY\r\n", Encoding.ASCII.GetString(rest, 0, await server.ReceiveAsync(rest)));
    }

    [Fact]
    public async Task Reader_gives_the_real_endpoints_for_local_and_unknown()
    {
        foreach (var header in new[] { V2(0, 0x00, []), "PROXY UNKNOWN\r\n"u8.ToArray() })
        {
            var (server, client, listener) = await PairAsync();
            using var _ = server;
            using var __ = client;
            listener.Stop();
            await client.SendAsync(header);
            var (source, destination) = await ProxyProtocolReader.AcceptAsync(server, new ClientNetworks(["127.0.0.1"]), TimeSpan.FromSeconds(10), CancellationToken.None);
            Assert.Equal(server.RemoteEndPoint, source);
            Assert.Equal(server.LocalEndPoint, destination);
        }
    }

    [Fact]
    public async Task Reader_refuses_an_untrusted_peer_before_reading()
    {
        var (server, client, listener) = await PairAsync(IPAddress.Parse("127.0.0.3"));
        using var _ = server;
        using var __ = client;
        listener.Stop();
        await client.SendAsync("PROXY TCP4 192.0.2.7 198.51.100.2 56324 25\r\n"u8.ToArray());
        var e = await Assert.ThrowsAsync<ProxyProtocolException>(() =>
            ProxyProtocolReader.AcceptAsync(server, new ClientNetworks(["127.0.0.1"]), TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Equal("127.0.0.3 is not a trusted proxy", e.Message);
    }

    [Fact]
    public async Task Reader_gives_up_after_the_timeout_and_on_garbage_and_on_close()
    {
        var trusted = new ClientNetworks(["127.0.0.0/8"]);
        var (server, client, listener) = await PairAsync();
        listener.Stop();
        using (server)
        using (client)
        {
            var e = await Assert.ThrowsAsync<ProxyProtocolException>(() => ProxyProtocolReader.AcceptAsync(server, trusted, TimeSpan.FromMilliseconds(200), CancellationToken.None));
            Assert.Equal("no PROXY protocol header within 0.2 s", e.Message);
        }
        (server, client, listener) = await PairAsync();
        listener.Stop();
        using (server)
        using (client)
        {
            await client.SendAsync("EHLO client.test\r\n"u8.ToArray());
            var e = await Assert.ThrowsAsync<ProxyProtocolException>(() => ProxyProtocolReader.AcceptAsync(server, trusted, TimeSpan.FromSeconds(10), CancellationToken.None));
            Assert.Equal("not a PROXY protocol header", e.Message);
        }
        (server, client, listener) = await PairAsync();
        listener.Stop();
        using (server)
        {
            await client.SendAsync("PROXY TCP4 192.0.2.7"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            var e = await Assert.ThrowsAsync<ProxyProtocolException>(() => ProxyProtocolReader.AcceptAsync(server, trusted, TimeSpan.FromSeconds(10), CancellationToken.None));
            Assert.Equal("closed inside the PROXY protocol header", e.Message);
            client.Dispose();
        }
    }
}
