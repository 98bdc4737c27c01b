using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Mail.Host;

/// <summary>What a control request asks of the running server.</summary>
public enum ControlCommand
{
    /// <summary>Apply the outbound queue requests recorded in the state store now (hold, release, retry, delete).</summary>
    Queue,
    /// <summary>Read the DKIM keys again (added, rotated) instead of trusting the cached ones for Dkim:KeyCacheTtl.</summary>
    Dkim,
    /// <summary>Read domains, users, aliases, limits and Sieve scripts again instead of trusting the cached answers for
    /// State:DirectoryCacheTtl.</summary>
    State,
}

/// <summary>
/// How a `mail` command tells the running `mail serve` on the same data directory that it changed something: a Unix
/// domain socket, <c>DATA/control.sock</c> (0600: only the server's own user). The change itself is already in the
/// state store, which both share; the socket only says "read it now", so that `mail queue hold` or `mail dkim rotate`
/// take effect before the command returns instead of at the next poll (1 s) or after Dkim:KeyCacheTtl. Without a
/// server (or with an older one) nothing is lost: the poll and the cache lifetime still apply the change.
/// One request a connection, one line each way: <c>MAIL-CONTROL/1 QUEUE|DKIM|STATE</c>, then <c>OK text</c> or <c>ERR text</c>.
/// </summary>
public sealed class ControlSocket : IAsyncDisposable
{
    public const string FileName = "control.sock";
    /// <summary>The wire format's version: a server answers a request of another version with ERR.</summary>
    public const string Version = "MAIL-CONTROL/1";
    private const int MaxLine = 256;

    private readonly Socket _listener;
    private readonly string _path;
    private readonly Func<ControlCommand, CancellationToken, Task<string>> _handle;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private Task _accepting = Task.CompletedTask;

    private ControlSocket(Socket listener, string path, Func<ControlCommand, CancellationToken, Task<string>> handle, ILogger log) =>
        (_listener, _path, _handle, _log) = (listener, path, handle, log);

    public static string PathIn(string dataRoot) => Path.Combine(dataRoot, FileName);

    /// <summary>Listens on DATA/control.sock; null (with a warning: the poll still works) when the socket cannot be made.</summary>
    /// <param name="handle">Does what the command asks and returns the OK text; an exception's message becomes the ERR text.</param>
    public static ControlSocket? Start(string dataRoot, Func<ControlCommand, CancellationToken, Task<string>> handle, ILogger log)
    {
        var path = PathIn(dataRoot);
#pragma warning disable CA2000 // disposed here on failure, else owned (and disposed) by the ControlSocket returned
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
#pragma warning restore CA2000
        try
        {
            // Left by a server that did not stop cleanly; only one server may use a data directory at a time.
            File.Delete(path);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            listener.Dispose();
            log.LogWarning("Control socket {Path} not opened ({Reason}): `mail queue` and `mail dkim` changes reach this server by its poll (1 s) and Dkim:KeyCacheTtl", path, e.Message);
            return null;
        }
        var control = new ControlSocket(listener, path, handle, log);
        control._accepting = Task.Run(control.AcceptLoopAsync);
        return control;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        string reply;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            var line = await ReadLineAsync(stream, timeout.Token);
            reply = Parse(line) is not { } command ? $"ERR expected '{Version} QUEUE|DKIM|STATE'"
                : "OK " + await _handle(command, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e)
        {
            _log.LogWarning("Control request failed: {Reason}", e.Message);
            reply = "ERR " + e.Message.ReplaceLineEndings(" ");
        }
        try
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(reply + "\n"));
        }
        catch (IOException)
        {
            // The command gave up waiting; the change is applied all the same.
        }
    }

    private static ControlCommand? Parse(string? line)
    {
        var parts = (line ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 2 && parts[0] == Version && Enum.TryParse<ControlCommand>(parts[1], ignoreCase: true, out var c) && Enum.IsDefined(c) ? c : null;
    }

    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxLine];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (n == 0) break;
            length += n;
            var newline = Array.IndexOf(buffer, (byte)'\n', 0, length);
            if (newline >= 0) return Encoding.UTF8.GetString(buffer, 0, newline).TrimEnd('\r');
        }
        return null;
    }

    /// <summary>
    /// Tells the server on <paramref name="dataRoot"/> to act on <paramref name="command"/> and waits for its answer: the
    /// OK text, or null when no server listens there (not running, an older build) or it answered ERR or not in time.
    /// </summary>
    public static async Task<string?> RequestAsync(string dataRoot, ControlCommand command, TimeSpan timeout)
    {
        var path = PathIn(dataRoot);
        if (!File.Exists(path)) return null;
        using var cts = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"{Version} {command.ToString().ToUpperInvariant()}\n"), cts.Token);
            var reply = await ReadLineAsync(stream, cts.Token);
            return reply is not null && reply.StartsWith("OK", StringComparison.Ordinal) ? reply[2..].Trim() : null;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        _stop.Dispose();
        try
        {
            File.Delete(_path);
        }
        catch (IOException)
        {
            // Removed at the next start.
        }
    }
}
