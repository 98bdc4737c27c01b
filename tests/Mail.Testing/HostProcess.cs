using System.Diagnostics;
using System.Net;
using System.Text;
using Xunit;

namespace Mail.Testing;

/// <summary>
/// `mail` as a real child process (dotnet mail.dll) on a data directory, with every listener on a free
/// loopback port. Also runs the admin commands against the same data directory.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HostProcess(Process process, string dataDirectory, int smtpPort, int imapPort)
    {
        _process = process;
        DataDirectory = dataDirectory;
        SmtpPort = smtpPort;
        ImapPort = imapPort;
    }

    public string DataDirectory { get; }
    public int SmtpPort { get; }
    public int ImapPort { get; }

    /// <summary>The POP3 listener with STLS (Pop3:Listeners:0) and the implicit-TLS one (Pop3:Listeners:1); 0 when the
    /// host was launched some other way.</summary>
    public int Pop3Port { get; private set; }
    public int Pop3sPort { get; private set; }

    /// <summary>The ManageSieve listener (ManageSieve:Listeners:0); 0 when the host was launched some other way.</summary>
    public int ManageSievePort { get; private set; }
    public IPEndPoint Smtp => new(IPAddress.Loopback, SmtpPort);
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>The repository's root: the first directory above this test assembly that holds Cloud.sln.</summary>
    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Cloud.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (Cloud.sln) above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Path of the built host (edge/Mail.Host/bin/{Configuration}/net10.0/mail.dll), found from this test assembly's location.</summary>
    public static string MailDll
    {
        get
        {
            // tests/Mail.Host.Tests/bin/Debug/net10.0 → configuration is the parent's name.
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name ?? "Debug";
            var path = Path.Combine(RepositoryRoot, "edge", "Mail.Host", "bin", configuration, "net10.0", "mail.dll");
            if (!File.Exists(path)) throw new InvalidOperationException($"{path} is missing: build edge/Mail.Host first");
            return path;
        }
    }

    /// <summary>The `mail` executable to test: MAIL_EXECUTABLE (for example the Native AOT build edge/Dockerfile
    /// ships, which test.sh runs the host tests against a second time), else `dotnet` <see cref="MailDll"/>.</summary>
    public static (string FileName, string[] Prefix) MailCommand =>
        Environment.GetEnvironmentVariable("MAIL_EXECUTABLE") is { Length: > 0 } exe ? (exe, []) : ("dotnet", [MailDll]);

    /// <summary>Runs `mail ARGS` (no --data added) to its end.</summary>
    public static Task<ExternalProcess.Result> RunAsync(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var (file, prefix) = MailCommand;
        return ExternalProcess.RunAsync(file, [.. prefix, .. args], stdin, timeout ?? TimeSpan.FromSeconds(60), environment);
    }

    public static async Task<HostProcess> StartAsync(string dataDirectory, params string[] extraArgs)
    {
        // A port that was free when picked can be taken by another process (or an outgoing connection's
        // ephemeral port) before the host binds it; the host then stops with "Address already in use" (exit 74). Pick again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnFreePortsAsync(dataDirectory, extraArgs);
            }
            catch (PortTakenException) when (attempt < 3)
            {
            }
        }
    }

    private sealed class PortTakenException(string message) : InvalidOperationException(message);

    private static async Task<HostProcess> StartOnFreePortsAsync(string dataDirectory, string[] extraArgs)
    {
        var smtp = FreePort.Tcp();
        var imap = FreePort.Tcp();
        var (pop3, pop3s) = (FreePort.Tcp(), FreePort.Tcp());
        var manageSieve = FreePort.Tcp();
        var (file, prefix) = MailCommand;
        var args = new List<string>(prefix)
        {
            "serve", "--data", dataDirectory,
            // One MX listener and one IMAP listener, both on free ports; the other defaults are not needed here.
            "--Smtp:Listeners:0:Name=mx", $"--Smtp:Listeners:0:Endpoint=127.0.0.1:{smtp}", "--Smtp:Listeners:0:Role=Mx",
            $"--Smtp:Listeners:1:Endpoint=127.0.0.1:{FreePort.Tcp()}", $"--Smtp:Listeners:2:Endpoint=127.0.0.1:{FreePort.Tcp()}",
            $"--Imap:Listeners:0:Endpoint=127.0.0.1:{imap}", $"--Imap:Listeners:1:Endpoint=127.0.0.1:{FreePort.Tcp()}",
            $"--Pop3:Listeners:0:Endpoint=127.0.0.1:{pop3}", $"--Pop3:Listeners:1:Endpoint=127.0.0.1:{pop3s}",
            $"--ManageSieve:Listeners:0:Endpoint=127.0.0.1:{manageSieve}",
            "--Worker:RetryDelay=00:00:01",
        };
        args.AddRange(extraArgs);
        var psi = new ProcessStartInfo(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var host = await LaunchAsync(psi, dataDirectory, smtp, imap);
        (host.Pop3Port, host.Pop3sPort) = (pop3, pop3s);
        host.ManageSievePort = manageSieve;
        return host;
    }

    /// <summary>Starts a process that runs `mail serve` in its own way (the README's quick start runs it from a shell
    /// line) and waits for its ready line; its output is captured, and disposing kills it with its children.</summary>
    public static async Task<HostProcess> LaunchAsync(ProcessStartInfo psi, string dataDirectory, int smtpPort, int imapPort)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {psi.FileName}");
        var host = new HostProcess(p, dataDirectory, smtpPort, imapPort);
        p.OutputDataReceived += (_, e) => host.OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => host.OnLine(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var exited = p.WaitForExitAsync();
        var first = await Task.WhenAny(host._ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != host._ready.Task)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            var output = host.Output;
            if (output.Contains("Address already in use", StringComparison.Ordinal))
                throw new PortTakenException("mail serve could not bind a listener:\n" + output);
            throw new InvalidOperationException("mail serve did not become ready:\n" + output);
        }
        return host;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
        if (line.StartsWith("mail serve ready", StringComparison.Ordinal)) _ready.TrySetResult();
    }

    /// <summary>Reads until <paramref name="done"/> holds for what was read and returns that; fails after
    /// <paramref name="within"/> with <paramref name="failure"/> and the last text read.</summary>
    public static async Task<string> PollAsync(Func<Task<string>> read, Func<string, bool> done, TimeSpan within, string failure)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var text = await read();
            if (done(text)) return text;
            Assert.True(DateTime.UtcNow < deadline, failure + ":\n" + text);
            await Task.Delay(300);
        }
    }

    /// <summary>Waits until the process has printed <paramref name="text"/>: log lines written around "ready" reach
    /// the console through the logger's queue, so they may come after it. Fails after <paramref name="within"/>.</summary>
    public Task WaitForOutputAsync(string text, TimeSpan within) =>
        PollAsync(() => Task.FromResult(Output), o => o.Contains(text, StringComparison.Ordinal), within, $"'{text}' was not printed within {within}");

    /// <summary>SIGKILL: no shutdown code runs, exactly like a crash or the OOM killer.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as systemd or `docker stop` would, and wait for the exit.</summary>
    public async Task<int> TerminateAsync()
    {
        var r = await ExternalProcess.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.Equal(0, r.ExitCode);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Runs `mail ARGS --data DIR` and returns its result.</summary>
    public static Task<ExternalProcess.Result> AdminAsync(string dataDirectory, params string[] args) =>
        RunAsync([.. args, "--data", dataDirectory]);

    public static async Task<ExternalProcess.Result> AdminOkAsync(string dataDirectory, params string[] args)
    {
        var r = await AdminAsync(dataDirectory, args);
        Assert.True(r.ExitCode == 0, $"mail {string.Join(' ', args)} failed ({r.ExitCode}): {r.StdOut}{r.StdErr}");
        return r;
    }

    /// <summary>Polls `mail queue` until it reports an empty queue (bounded).</summary>
    public static Task WaitForEmptyQueueAsync(string dataDirectory, TimeSpan within) =>
        PollAsync(async () => (await AdminOkAsync(dataDirectory, "queue")).StdOut,
            o => o.Contains("Mail queue is empty", StringComparison.Ordinal), within, "queue did not drain");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}

public sealed class TempData : IDisposable
{
    public TempData() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mail-host-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, true);
        }
        catch (IOException)
        {
        }
    }
}
