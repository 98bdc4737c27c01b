using System.Net;
using System.Net.Sockets;

namespace Mail.Core.Listening;

/// <summary>A connection on a PROXY protocol listener that is closed before its session starts; the message says why.</summary>
public sealed class ProxyProtocolException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Reads the PROXY protocol header off a connection just accepted, and not one byte after it: the bytes a client sends
/// right behind the header (an early EHLO, a TLS ClientHello) stay in the socket for the session that reads next, so
/// no session needs a "bytes already read" buffer. It peeks, parses, and takes from the socket only what the header
/// used, or all it peeked while the header is still incomplete (those bytes are all header, so the next peek waits for
/// new ones instead of spinning).
/// </summary>
public static class ProxyProtocolReader
{
    /// <summary>The longest v2 header: the fixed part and a 16-bit length.</summary>
    private const int MaxHeaderLength = ProxyProtocolHeader.V2FixedLength + ushort.MaxValue;

    public static async Task<ProxyProtocolHeader> ReadAsync(Socket socket, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        // Room for a v1 line, or a v2 header with AF_UNIX addresses; a v2 header with TLVs may need more.
        var buffer = new byte[256];
        var taken = 0;
        try
        {
            while (true)
            {
                if (taken == buffer.Length) Array.Resize(ref buffer, Math.Min(buffer.Length * 2, MaxHeaderLength));
                var peeked = await socket.ReceiveAsync(buffer.AsMemory(taken), SocketFlags.Peek, deadline.Token);
                if (peeked == 0) throw new ProxyProtocolException(taken == 0 ? "closed before sending a PROXY protocol header" : "closed inside the PROXY protocol header");
                var status = ProxyProtocolHeader.TryParse(buffer.AsSpan(0, taken + peeked), out var header, out var consumed, out var error);
                if (status == ProxyParseStatus.Invalid) throw new ProxyProtocolException(error!);
                // Complete: take the header's bytes, which are in the socket's buffer already. Incomplete: take all.
                var take = status == ProxyParseStatus.Complete ? consumed - taken : peeked;
                await ReceiveExactlyAsync(socket, buffer.AsMemory(taken, take), deadline.Token);
                taken += take;
                if (status == ProxyParseStatus.Complete) return header!;
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            var seconds = timeout.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
            throw new ProxyProtocolException(taken == 0 ? $"no PROXY protocol header within {seconds} s" : $"PROXY protocol header incomplete after {seconds} s");
        }
        catch (SocketException e)
        {
            throw new ProxyProtocolException($"connection failed while reading the PROXY protocol header: {e.Message}", e);
        }
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> into, CancellationToken ct)
    {
        while (!into.IsEmpty)
        {
            var n = await socket.ReceiveAsync(into, SocketFlags.None, ct);
            if (n == 0) throw new ProxyProtocolException("closed inside the PROXY protocol header");
            into = into[n..];
        }
    }

    /// <summary>
    /// For a listener with the PROXY protocol on: refuses a peer outside <paramref name="trustedProxies"/> (anyone else
    /// could claim any address), reads the header, and returns the client's and our endpoints as the proxy saw them;
    /// the real ones when the header does not carry addresses (v1 UNKNOWN, v2 LOCAL: a proxy's health check).
    /// Throws <see cref="ProxyProtocolException"/> naming why the connection is to be closed.
    /// </summary>
    public static async Task<(IPEndPoint Client, IPEndPoint Local)> AcceptAsync(Socket socket, ClientNetworks trustedProxies, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(trustedProxies);
        IPEndPoint peer, local;
        try
        {
            peer = (IPEndPoint)socket.RemoteEndPoint!;
            local = (IPEndPoint)socket.LocalEndPoint!;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw new ProxyProtocolException("closed before sending a PROXY protocol header", e);
        }
        if (!trustedProxies.Contains(peer.Address)) throw new ProxyProtocolException($"{peer.Address.Unmapped()} is not a trusted proxy");
        var header = await ReadAsync(socket, timeout, ct);
        return header.Source is null ? (peer, local) : (header.Source, header.Destination!);
    }

}
