using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Mail.Smtp.Tests;

/// <summary>One SMTP reply: the code, the enhanced code of the last line (if any) and all text lines.</summary>
internal sealed record SmtpReply(int Code, IReadOnlyList<string> Lines)
{
    public string Last => Lines[^1];
    public override string ToString() => string.Join(" | ", Lines);
}

/// <summary>A raw TCP (optionally TLS) SMTP client for protocol edge cases: sends exactly the octets given.</summary>
internal sealed class RawSmtpClient : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly List<byte> _pending = [];

    private RawSmtpClient(TcpClient tcp, Stream stream)
    {
        _tcp = tcp;
        _stream = stream;
    }

    /// <param name="localAddress">Source address to connect from (any of 127.0.0.0/8 works on loopback), to look like another client.</param>
    public static RawSmtpClient Connect(IPEndPoint endpoint, IPAddress? localAddress = null)
    {
        var tcp = localAddress is null ? new TcpClient() : new TcpClient(new IPEndPoint(localAddress, 0));
        tcp.Connect(endpoint);
        tcp.NoDelay = true;
        return new RawSmtpClient(tcp, tcp.GetStream());
    }

    public static async Task<RawSmtpClient> ConnectTlsAsync(IPEndPoint endpoint)
    {
        var c = Connect(endpoint);
        await c.StartTlsHandshakeAsync();
        return c;
    }

    public async Task StartTlsHandshakeAsync()
    {
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false, SmtpTestServer.IsTestCertificate);
        await ssl.AuthenticateAsClientAsync("mx.example.test").WaitAsync(s_timeout);
        _stream = ssl;
        _pending.Clear();
    }

    public SslStream? Ssl => _stream as SslStream;

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Sends a line with CRLF and reads its reply.</summary>
    public async Task<SmtpReply> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    public async Task<string?> ReadLineAsync()
    {
        var buffer = new byte[1];
        using var cts = new CancellationTokenSource(s_timeout);
        while (true)
        {
            var lf = _pending.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = Encoding.UTF8.GetString(_pending.GetRange(0, lf).ToArray()).TrimEnd('\r');
                _pending.RemoveRange(0, lf + 1);
                return line;
            }
            var chunk = new byte[4096];
            var n = await _stream.ReadAsync(chunk, cts.Token);
            if (n == 0) return null;
            _pending.AddRange(chunk.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>Reads one (possibly multi-line) reply; throws when the server closed the connection instead.</summary>
    public async Task<SmtpReply> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new IOException($"Connection closed; lines so far: {string.Join(" | ", lines)}");
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-') return new SmtpReply(int.Parse(line[..3], System.Globalization.CultureInfo.InvariantCulture), lines);
        }
    }

    /// <summary>True when the server has closed the connection (EOF or reset), after reading anything still pending.</summary>
    public async Task<bool> IsClosedAsync()
    {
        try
        {
            return await ReadLineAsync() is null;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async Task<SmtpReply> EhloAsync(string name = "client.test")
    {
        var reply = await CommandAsync($"EHLO {name}");
        Assert.Equal(250, reply.Code);
        return reply;
    }

    public void Dispose()
    {
        _stream.Dispose();
        _tcp.Dispose();
    }
}
