using System.Diagnostics;
using System.Net;
using Mail.Core.Ports;
using Mail.Dns;

namespace Mail.Testing.Dns;

/// <summary>
/// Debian's dnsmasq as a real DNS server on loopback, authoritative ("--local") for the zones given, with
/// records from its command line (--address, --txt-record, --host-record, --ptr-record). Names outside the
/// local zones are REFUSED (no upstream), which resolvers see as a failure.
/// </summary>
public sealed class Dnsmasq : IAsyncDisposable
{
    private const string Program = "/usr/sbin/dnsmasq";
    private readonly Process _process;

    private Dnsmasq(Process process, int port)
    {
        _process = process;
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
    }

    public IPEndPoint EndPoint { get; }

    public IDnsResolver Resolver(bool cache = false) => new DnsResolver(new DnsResolverOptions
    {
        NameServers = [EndPoint],
        UseCache = cache,
        Timeout = TimeSpan.FromSeconds(2),
        Retries = 1,
    });

    public static async Task<Dnsmasq> StartAsync(IEnumerable<string> localZones, IEnumerable<string> options)
    {
        if (!File.Exists(Program)) throw new InvalidOperationException($"{Program} is missing: apt-get install dnsmasq-base");
        var port = FreePort.TcpAndUdp();
        var psi = new ProcessStartInfo(Program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     $"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                     "--no-daemon", "--conf-file=/dev/null", "--pid-file=", $"--user={Environment.UserName}", "--cache-size=0",
                 })
            psi.ArgumentList.Add(a);
        foreach (var z in localZones) psi.ArgumentList.Add($"--local=/{z}/");
        foreach (var o in options) psi.ArgumentList.Add(o);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("dnsmasq did not start");
        p.ErrorDataReceived += (_, _) => { };
        p.OutputDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        var server = new Dnsmasq(p, port);
        // Ready when it answers a query for a local zone (bounded: 50 x 100 ms).
        var probe = server.Resolver();
        var zone = localZones.First();
        for (var i = 0; i < 50; i++)
        {
            if (p.HasExited) throw new InvalidOperationException($"dnsmasq exited with {p.ExitCode}");
            var r = await probe.AAsync("ready-probe." + zone);
            if (r.Status != DnsStatus.Failed) return server;
            await Task.Delay(100);
        }
        await server.DisposeAsync();
        throw new TimeoutException("dnsmasq did not answer within 5 seconds");
    }

    /// <summary>A <c>--txt-record</c> option: one TXT record of &lt;=255-octet character-strings. dnsmasq splits strings at
    /// commas (and keeps quotes given outside a shell literally), so the text must not contain a comma.</summary>
    public static string TxtRecord(string name, string text)
    {
        if (text.Contains(',', StringComparison.Ordinal)) throw new ArgumentException($"TXT text for {name} must not contain a comma", nameof(text));
        var chunks = Enumerable.Range(0, (text.Length + 254) / 255).Select(i => text.Substring(i * 255, Math.Min(255, text.Length - i * 255)));
        return $"--txt-record={name}," + string.Join(',', chunks);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
