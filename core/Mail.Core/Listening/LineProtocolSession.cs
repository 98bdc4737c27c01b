using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Listening;

/// <summary>What reading one command gave: the command, or the reply that refuses it (it was read to its end, so the
/// session stays in step; a bad command), or a reply after which the connection must close (<see cref="Fatal"/>), or the
/// end of the stream (neither).</summary>
public readonly record struct CommandRead<TCommand>(TCommand? Command, string? Refusal, bool Fatal) where TCommand : class
{
    public bool IsEnd => Command is null && Refusal is null;

    public static CommandRead<TCommand> Of(TCommand command) => new(command, null, false);

    public static CommandRead<TCommand> Refused(string reply) => new(null, reply, false);
}

/// <summary>The replies, from the protocol's catalogue, with which a <see cref="LineProtocolSession{TCommand}"/> ends
/// or answers a failure: past the bad-command limit, at the idle timeout, at shutdown, and for a command that failed
/// for a reason nobody foresaw.</summary>
public sealed record SessionEndReplies(string TooManyBadCommands, string IdleTimeout, string ShuttingDown, string InternalError);

/// <summary>
/// The session loop of a line protocol served from a gateway (POP3, ManageSieve): greet, then read one command with the
/// protocol's limits, run it, and flush the replies once the client has sent nothing more (RFC 2449 PIPELINING: answers
/// to commands sent together go out together); count the bad commands and close past the limit; end at the idle
/// timeout or at shutdown with the protocol's reply. A command that fails for a reason nobody foresaw (the directory or
/// a store down) is one error reply and a log line, and the session goes on; a broken connection ends it.
/// </summary>
/// <param name="protocol">"POP3", "ManageSieve": for the logs.</param>
public abstract class LineProtocolSession<TCommand>(Socket socket, IPEndPoint client, string protocol, SessionEndReplies replies, int maxBadCommands, ILogger logger)
    : IListenerSession where TCommand : class
{
    private int _badCommands;

    protected LineConnection Conn { get; } = new(new NetworkStream(socket, ownsSocket: true));

    /// <summary>The socket's peer, or on a PROXY protocol listener the relayed client (IPv4 unmapped by the listener):
    /// the one address for the login throttle, the loopback rule and the logs.</summary>
    protected IPEndPoint Remote { get; } = client;

    protected ILogger Logger { get; } = logger;

    /// <summary>Set by a command after which the session ends (its reply is flushed first).</summary>
    protected bool Closing { get; set; }

    /// <summary>The user logged in, for the logs; empty before login.</summary>
    protected string SignedInUser { get; set; } = "";

    /// <summary>Inactivity allowed before the next command.</summary>
    protected abstract TimeSpan IdleTimeout { get; }

    /// <summary>Writes the greeting (after an implicit-TLS handshake where the listener has one); the loop flushes it.</summary>
    protected abstract Task GreetAsync(CancellationToken stopping);

    protected abstract ValueTask<CommandRead<TCommand>> ReadCommandAsync(CancellationToken ct);

    protected abstract string NameOf(TCommand command);

    protected abstract Task ExecuteAsync(TCommand command, CancellationToken ct);

    /// <summary>Lets go of what the session holds beyond its connection (a maildrop lock), at its end however it ends.</summary>
    protected virtual void Release()
    {
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await GreetAsync(stopping);
            await Conn.FlushAsync(stopping);
            while (!Closing)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(IdleTimeout);
                var read = await ReadCommandAsync(timeout.Token);
                if (read.IsEnd) return;
                if (read.Fatal)
                {
                    Conn.WriteLine(read.Refusal!);
                    Closing = true;
                }
                else if (read.Refusal is { } refusal) Bad(refusal);
                else await ExecuteSafelyAsync(read.Command!, timeout.Token);
                if (!Conn.HasBufferedInput || Closing) await Conn.FlushAsync(stopping);
            }
        }
        catch (OperationCanceledException)
        {
            await Conn.SayLastAsync(stopping.IsCancellationRequested ? replies.ShuttingDown : replies.IdleTimeout);
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            Logger.LogDebug("{Protocol} connection from {Remote} closed: {Message}", protocol, Remote, e.Message);
        }
    }

    /// <summary>An error reply that counts towards the session's bad-command limit; past it, the protocol's goodbye.</summary>
    protected void Bad(string reply)
    {
        Conn.WriteLine(reply);
        if (++_badCommands < maxBadCommands) return;
        Conn.WriteLine(replies.TooManyBadCommands);
        Logger.LogInformation("{Protocol} session from {Remote} closed after {Count} bad commands", protocol, Remote, _badCommands);
        Closing = true;
    }

    private async Task ExecuteSafelyAsync(TCommand command, CancellationToken ct)
    {
        try
        {
            await ExecuteAsync(command, ct);
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException or SocketException or ObjectDisposedException or AuthenticationException))
        {
            Logger.LogError(e, "{Protocol} {Command} failed for {User} from {Client}", protocol, NameOf(command), SignedInUser, Remote);
            Conn.WriteLine(replies.InternalError);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        try
        {
            await Conn.DisposeAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException or AuthenticationException)
        {
        }
        socket.Dispose();
        GC.SuppressFinalize(this);
    }
}
