using System.Diagnostics;
using System.Net;
using Mail.Core.Ports;
using Mail.Dns;
using Mail.Testing;

namespace Mail.Auth.Tests;

/// <summary>
/// Debian's dnsmasq as an authoritative-only DNS server on a loopback port, serving TXT records given at start.
/// Names under <c>localZone</c> that it does not hold get NXDOMAIN (--local); it never forwards anywhere.
/// </summary>
public sealed class Dnsmasq : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/dnsmasq";
    private readonly Process _process;

    private Dnsmasq(Process process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public static async Task<Dnsmasq> StartAsync(string localZone, IEnumerable<(string Name, string Text)> txtRecords)
    {
        if (!File.Exists(Binary)) throw new InvalidOperationException($"{Binary} is missing: install the Debian package dnsmasq-base.");
        var port = FreePort.TcpAndUdp();
        var psi = new ProcessStartInfo(Binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { $"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                     "--no-daemon", "--conf-file=/dev/null", "--cache-size=0", $"--local=/{localZone}/" })
            psi.ArgumentList.Add(a);
        if (Environment.UserName == "root") psi.ArgumentList.Add("--user=root");
        foreach (var (name, text) in txtRecords)
        {
            // One TXT record made of <=255-octet character-strings, comma-separated on the command line (dnsmasq keeps
            // quotes given outside a shell literally, so the text must not contain commas).
            if (text.Contains(',', StringComparison.Ordinal)) throw new ArgumentException($"TXT text for {name} must not contain a comma", nameof(txtRecords));
            var chunks = Enumerable.Range(0, (text.Length + 254) / 255).Select(i => text.Substring(i * 255, Math.Min(255, text.Length - i * 255)));
            psi.ArgumentList.Add($"--txt-record={name}," + string.Join(',', chunks));
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("dnsmasq did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new Dnsmasq(process, new IPEndPoint(IPAddress.Loopback, port));

        // Ready when it answers (NXDOMAIN for a name in its zone is an answer).
        var probe = new DnsResolver(new DnsResolverOptions { NameServers = [server.EndPoint], Timeout = TimeSpan.FromMilliseconds(300), Retries = 0, UseCache = false });
        for (var i = 0; i < 50; i++)
        {
            if (process.HasExited) throw new InvalidOperationException($"dnsmasq exited with {process.ExitCode}");
            var r = await probe.TxtAsync("probe." + localZone);
            if (r.Status != DnsStatus.Failed) return server;
            await Task.Delay(100);
        }
        await server.DisposeAsync();
        throw new TimeoutException("dnsmasq did not answer within 5 seconds");
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
