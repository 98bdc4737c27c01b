using System.Diagnostics;
using System.Net;
using System.Text;
using Xunit;

namespace Mail.Testing;

/// <summary>
/// A real HAProxy (`haproxy -f CFG -db`, Debian package haproxy) in TCP mode on loopback: one frontend per route, each
/// on a free port, relaying to a backend with a PROXY protocol header (<c>send-proxy</c> for v1, <c>send-proxy-v2</c>).
/// Disposing stops it and deletes its configuration.
/// </summary>
public sealed class HaproxyProcess : IAsyncDisposable
{
    /// <summary>One frontend: what the backend server line adds (<c>send-proxy</c> or <c>send-proxy-v2</c>) and where it relays.</summary>
    public sealed record Route(string Name, string SendProxy, IPEndPoint Backend);

    private readonly Process _process;
    private readonly string _config;
    private readonly StringBuilder _output = new();

    private HaproxyProcess(Process process, string config, IReadOnlyDictionary<string, int> ports)
    {
        _process = process;
        _config = config;
        Ports = ports;
    }

    /// <summary>Route name → the loopback port its frontend listens on.</summary>
    public IReadOnlyDictionary<string, int> Ports { get; }

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>The haproxy binary (in /usr/sbin, which is not on every PATH); tests that need it fail when it is missing.</summary>
    public static string Executable
    {
        get
        {
            if (File.Exists("/usr/sbin/haproxy")) return "/usr/sbin/haproxy";
            Assert.True(ExternalProcess.IsOnPath("haproxy"), "haproxy is required (Debian package haproxy; test.sh installs it)");
            return "haproxy";
        }
    }

    public static async Task<HaproxyProcess> StartAsync(params Route[] routes)
    {
        var executable = Executable;
        var ports = routes.ToDictionary(r => r.Name, _ => FreePort.Tcp());
        var cfg = new StringBuilder("""
            global
                maxconn 100
            defaults
                mode tcp
                timeout connect 5s
                timeout client 60s
                timeout server 60s

            """);
        foreach (var r in routes)
        {
            cfg.Append($"frontend {r.Name}\n    bind 127.0.0.1:{ports[r.Name]}\n    default_backend {r.Name}\n");
            cfg.Append($"backend {r.Name}\n    server mail {r.Backend} {r.SendProxy}\n");
        }
        var path = Path.Combine(Path.GetTempPath(), $"haproxy-{Guid.NewGuid():N}.cfg");
        await File.WriteAllTextAsync(path, cfg.ToString());
        var psi = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-f", path, "-db" }) psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start haproxy");
        var haproxy = new HaproxyProcess(process, path, ports);
        process.OutputDataReceived += (_, e) => haproxy.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => haproxy.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // Ready when every frontend is bound (a probe that connects would be relayed to the backend as a session).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!routes.All(r => FreePort.IsListening(ports[r.Name])))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await haproxy.DisposeAsync();
                throw new InvalidOperationException("haproxy did not start:\n" + haproxy.Output);
            }
            await Task.Delay(100);
        }
        return haproxy;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        File.Delete(_config);
    }
}
