using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Mail.Testing;

/// <summary>
/// A scripted SMTP server on loopback for the cases real servers do not produce on demand: a reply chosen per
/// recipient, a disconnect after DATA, silence, a certificate of our choosing. It speaks SMTP (EHLO with PIPELINING;
/// STARTTLS when <see cref="Certificate"/> is set) and records every transaction it accepted.
/// </summary>
public sealed class ScriptedSmtpPeer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ScriptedSmtpPeer()
    {
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Reply to RCPT TO for an address (default "250 2.1.5 Ok").</summary>
    public ConcurrentDictionary<string, string> RcptReplies { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Reply after the message data (default "250 2.0.0 Ok: queued").</summary>
    public string DataReply { get; set; } = "250 2.0.0 Ok: queued as SCRIPTED";

    /// <summary>Close the connection after the message data without replying.</summary>
    public bool DisconnectAfterData { get; set; }

    /// <summary>The first line sent on connect (default a 220 greeting); anything else tests a client's handling of garbage,
    /// null sends nothing (a server that never greets).</summary>
    public string? Greeting { get; set; } = "220 peer.test ESMTP scripted";

    /// <summary>More EHLO keywords ("SIZE 1000", "DSN", "CHUNKING": BDAT is then accepted).</summary>
    public ConcurrentQueue<string> Extensions { get; } = new();

    /// <summary>Offer PIPELINING (default).</summary>
    public bool OfferPipelining { get; set; } = true;

    /// <summary>
    /// Hold the replies to MAIL FROM and RCPT TO until the command that ends the group (DATA, BDAT, RSET, ...) arrives,
    /// as RFC 2920 3.2 allows a server to: a client that waits for each reply before the next command never gets one.
    /// </summary>
    public bool BufferRepliesUntilData { get; set; }

    /// <summary>Offer 8BITMIME (default).</summary>
    public bool Offer8BitMime { get; set; } = true;

    /// <summary>Never answer this command (a verb: "RCPT", "DATA"): a server that goes silent at that stage.</summary>
    public string? SilentOn { get; set; }

    /// <summary>Every command line received (not the message data), in order, over all connections.</summary>
    public ConcurrentQueue<string> Commands { get; } = new();

    /// <summary>Advertise STARTTLS, then answer it with bytes that are no TLS handshake (a broken TLS stack).</summary>
    public bool BrokenStartTls { get; set; }

    /// <summary>When set (with its private key), STARTTLS is advertised and performed with this certificate.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>Sent after <see cref="Certificate"/> as its chain (intermediates; may be empty).</summary>
    public X509Certificate2Collection ChainCertificates { get; set; } = [];

    /// <summary>For each accepted message, in the order of <see cref="Received"/>: whether it came over TLS.</summary>
    public ConcurrentQueue<bool> ReceivedOverTls { get; } = new();

    /// <summary>When set, the reply to the message data waits for this task (a server that goes silent mid-delivery).</summary>
    public Task? HoldDataReply { get; set; }

    /// <summary>Messages whose data arrived and are waiting on <see cref="HoldDataReply"/>.</summary>
    public int Held => Volatile.Read(ref _held);
    private int _held;

    /// <summary>Accepted messages: the RCPT TO addresses that got 2xx and the data.</summary>
    public ConcurrentQueue<(string[] Recipients, string Data)> Received { get; } = new();

    public int Connections => Volatile.Read(ref _connections);
    private int _connections;

    /// <summary>The most sessions that were open at the same time (a client's concurrency toward this host).</summary>
    public int MaxOpen => Volatile.Read(ref _maxOpen);
    private int _open, _maxOpen;

    /// <summary>How long the reply to the message data is delayed (a slow server: transactions overlap).</summary>
    public TimeSpan DataReplyDelay { get; set; }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            Interlocked.Increment(ref _connections);
            _ = Task.Run(() => SessionAsync(client));
        }
    }

    private async Task SessionAsync(TcpClient client)
    {
        using var _ = client;
        var open = Interlocked.Increment(ref _open);
        for (var max = Volatile.Read(ref _maxOpen); open > max; max = Volatile.Read(ref _maxOpen))
            if (Interlocked.CompareExchange(ref _maxOpen, open, max) == max) break;
        Stream stream = client.GetStream();
        var tls = false;
        var reader = new StreamReader(stream, Encoding.Latin1);
        var writer = new StreamWriter(stream, Encoding.Latin1) { NewLine = "\r\n", AutoFlush = !BufferRepliesUntilData };
        if (Greeting is not null)
        {
            await writer.WriteLineAsync(Greeting);
            await writer.FlushAsync();
        }
        var rcpts = new List<string>();
        var chunks = new StringBuilder();
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                Commands.Enqueue(line);
                var verb = line.Split(' ', 2)[0].ToUpperInvariant();
                if (verb == SilentOn)
                {
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                    return;
                }
                switch (verb)
                {
                    case "EHLO":
                        await writer.WriteAsync("250-peer.test\r\n" + (OfferPipelining ? "250-PIPELINING\r\n" : "") + (BrokenStartTls || (Certificate is not null && !tls) ? "250-STARTTLS\r\n" : "") + string.Concat(Extensions.Select(e => $"250-{e}\r\n"))
                            + (Offer8BitMime ? "250 8BITMIME\r\n" : "250 ENHANCEDSTATUSCODES\r\n"));
                        break;
                    case "MAIL":
                        rcpts.Clear();
                        await writer.WriteLineAsync("250 2.1.0 Ok");
                        break;
                    case "RCPT":
                        var address = line[(line.IndexOf('<') + 1)..line.IndexOf('>')];
                        var reply = RcptReplies.TryGetValue(address, out var r) ? r : "250 2.1.5 Ok";
                        if (reply.StartsWith('2')) rcpts.Add(address);
                        await writer.WriteLineAsync(reply);
                        break;
                    case "DATA" when rcpts.Count == 0:
                        // RFC 5321 3.3, as Postfix's smtpd answers a pipelined DATA after every RCPT TO was refused.
                        await writer.WriteLineAsync("554 5.5.1 Error: no valid recipients");
                        break;
                    case "DATA":
                        await writer.WriteLineAsync("354 End data with <CR><LF>.<CR><LF>");
                        await writer.FlushAsync();
                        var data = new StringBuilder();
                        // RFC 5321 4.5.2: a leading dot was doubled by the client.
                        string? d;
                        while ((d = await reader.ReadLineAsync()) is not null && d != ".") data.Append(d.StartsWith("..", StringComparison.Ordinal) ? d[1..] : d).Append("\r\n");
                        // A connection closed before the final dot carried no message (RFC 5321 4.1.1.4).
                        if (d is null) return;
                        if (DisconnectAfterData) return;
                        if (HoldDataReply is { } hold)
                        {
                            Interlocked.Increment(ref _held);
                            await hold;
                            return;
                        }
                        if (DataReplyDelay > TimeSpan.Zero) await Task.Delay(DataReplyDelay, _stop.Token);
                        ReceivedOverTls.Enqueue(tls);
                        Received.Enqueue((rcpts.ToArray(), data.ToString()));
                        await writer.WriteLineAsync(DataReply);
                        break;
                    case "BDAT" when Extensions.Contains("CHUNKING"):
                        // RFC 3030: "BDAT size [LAST]", then exactly size octets (Latin-1 maps one octet to one char).
                        var args = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                        var chunk = new char[int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)];
                        await reader.ReadBlockAsync(chunk);
                        chunks.Append(chunk);
                        if (args.Length < 3 || !args[2].Equals("LAST", StringComparison.OrdinalIgnoreCase))
                        {
                            await writer.WriteLineAsync($"250 2.0.0 {chunk.Length} octets received");
                            break;
                        }
                        if (DisconnectAfterData) return;
                        Received.Enqueue((rcpts.ToArray(), chunks.ToString()));
                        chunks.Clear();
                        await writer.WriteLineAsync(DataReply);
                        break;
                    case "STARTTLS" when BrokenStartTls:
                        await writer.WriteLineAsync("220 2.0.0 Ready to start TLS");
                        await writer.WriteAsync("this is not a TLS server hello\r\n");
                        await writer.FlushAsync();
                        return;
                    case "STARTTLS" when Certificate is { } certificate && !tls:
                        await writer.WriteLineAsync("220 2.0.0 Ready to start TLS");
                        await writer.FlushAsync();
                        var ssl = new SslStream(stream);
                        try
                        {
                            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                            {
                                ServerCertificateContext = SslStreamCertificateContext.Create(certificate, ChainCertificates, offline: true),
                            });
                        }
                        catch (AuthenticationException)
                        {
                            // The client refused our certificate.
                            await ssl.DisposeAsync();
                            return;
                        }
                        (stream, tls) = (ssl, true);
                        reader = new StreamReader(stream, Encoding.Latin1);
                        writer = new StreamWriter(stream, Encoding.Latin1) { NewLine = "\r\n", AutoFlush = !BufferRepliesUntilData };
                        break;
                    case "RSET" or "NOOP":
                        await writer.WriteLineAsync("250 2.0.0 Ok");
                        break;
                    case "QUIT":
                        await writer.WriteLineAsync("221 2.0.0 Bye");
                        await writer.FlushAsync();
                        return;
                    default:
                        await writer.WriteLineAsync("502 5.5.2 Error: command not recognized");
                        break;
                }
                if (verb is not ("MAIL" or "RCPT")) await writer.FlushAsync();
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or AuthenticationException)
        {
            // The client went away, or refused our certificate.
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            await stream.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (Exception)
        {
        }
    }
}
