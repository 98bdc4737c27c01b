using System.Net.Sockets;
using System.Text;

namespace Mail.Imap.Tests;

/// <summary>A bare socket client for exact protocol tests (bad input, literals, timeouts) that a library client would refuse to send.</summary>
public sealed class RawImapClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private RawImapClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = new StreamReader(_stream, new UTF8Encoding(false));
    }

    public string Greeting { get; private set; } = "";

    /// <param name="localAddress">Source address, e.g. 127.0.0.2 to look like a second client host (all of 127/8 is loopback).</param>
    public static async Task<RawImapClient> ConnectAsync(int port, string? localAddress = null)
    {
        var tcp = localAddress is null ? new TcpClient() : new TcpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(localAddress), 0));
        await tcp.ConnectAsync("127.0.0.1", port);
        var c = new RawImapClient(tcp);
        c.Greeting = await c.ReadLineAsync() ?? "";
        return c;
    }

    public async Task SendAsync(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public Task SendLineAsync(string line) => SendAsync(line + "\r\n");

    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        return await _reader.ReadLineAsync(cts.Token);
    }

    /// <summary>Sends "tag command" and returns every line up to and including the tagged completion.</summary>
    public async Task<List<string>> CommandAsync(string tag, string command)
    {
        await SendLineAsync($"{tag} {command}");
        return await ReadUntilTaggedAsync(tag);
    }

    public async Task<List<string>> ReadUntilTaggedAsync(string tag)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new IOException("Connection closed; got: " + string.Join(" | ", lines));
            lines.Add(line);
            if (line.StartsWith(tag + " ", StringComparison.Ordinal)) return lines;
        }
    }

    public async Task LoginAsync(string user = ImapTestServer.Alice, string password = ImapTestServer.Password)
    {
        var r = await CommandAsync("L0", $"LOGIN {user} {password}");
        Assert.StartsWith("L0 OK", r[^1]);
    }

    /// <summary>Connects, logs in as Alice and selects <paramref name="mailbox"/>.</summary>
    public static async Task<RawImapClient> SelectAsync(int port, string mailbox = "INBOX")
    {
        var c = await ConnectAsync(port);
        await c.LoginAsync();
        Assert.StartsWith("s OK", (await c.CommandAsync("s", $"SELECT {mailbox}"))[^1]);
        return c;
    }

    /// <summary>Drops the connection with a TCP reset, as a client whose network went away mid-response.</summary>
    public void Reset()
    {
        _tcp.Client.LingerState = new LingerOption(true, 0);
        _tcp.Client.Close();
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
