using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Xunit;

namespace Mail.Testing;

/// <summary>
/// A real ACME CA: Let's Encrypt's Pebble (Debian package pebble) on loopback. Its HTTPS listener uses a certificate
/// from a test CA made here (the Debian package ships none; <see cref="CaPath"/> is that CA's root, what
/// Tls:Acme:DirectoryCaPath names). Its validation authority resolves names through <paramref name="dnsServer"/> and
/// connects to HTTP-01 responders on <see cref="HttpPort"/>: real validation, no PEBBLE_VA_ALWAYS_VALID.
/// </summary>
public sealed class PebbleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output = new();

    private PebbleProcess(Process process, string directory, int port, int managementPort, int httpPort)
    {
        _process = process;
        _directory = directory;
        (Port, ManagementPort, HttpPort) = (port, managementPort, httpPort);
    }

    public int Port { get; }
    public int ManagementPort { get; }

    /// <summary>The port Pebble's validation authority connects to for HTTP-01.</summary>
    public int HttpPort { get; }

    /// <summary>The ACME directory URL.</summary>
    public Uri Directory => new($"https://localhost:{Port}/dir");

    /// <summary>The PEM root Pebble's own HTTPS certificate chains to.</summary>
    public string CaPath => Path.Combine(_directory, "ca.pem");

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <param name="dnsServer">Where the validation authority resolves the names it validates.</param>
    /// <param name="httpPort">The port of the HTTP-01 responder under test.</param>
    /// <param name="validity">The lifetime of the certificates it issues.</param>
    /// <param name="nonceRejectPercent">How many good nonces it refuses as badNonce (Pebble's default is 5).</param>
    public static async Task<PebbleProcess> StartAsync(IPEndPoint dnsServer, int httpPort, TimeSpan validity, int nonceRejectPercent = 5)
    {
        Assert.True(ExternalProcess.IsOnPath("pebble"), "pebble is required (Debian package pebble; test.sh checks for it)");
        var directory = Path.Combine(Path.GetTempPath(), "pebble-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        using var ca = new TestCertificateAuthority("Pebble HTTPS Test CA");
        ca.WriteRootPem(Path.Combine(directory, "ca.pem"));
        using (var https = ca.Issue("localhost"))
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "cert.pem"), https.ExportCertificatePem());
            using var key = https.GetECDsaPrivateKey()!;
            await File.WriteAllTextAsync(Path.Combine(directory, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        }
        var (port, management) = (FreePort.Tcp(), FreePort.Tcp());
        await File.WriteAllTextAsync(Path.Combine(directory, "pebble.json"), $$"""
            {
              "pebble": {
                "listenAddress": "127.0.0.1:{{port}}",
                "managementListenAddress": "127.0.0.1:{{management}}",
                "certificate": "{{directory}}/cert.pem",
                "privateKey": "{{directory}}/key.pem",
                "httpPort": {{httpPort}},
                "tlsPort": {{FreePort.Tcp()}},
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": {{(long)validity.TotalSeconds}}
              }
            }
            """);
        var psi = new ProcessStartInfo("pebble") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
        foreach (var a in new[] { "-config", Path.Combine(directory, "pebble.json"), "-dnsserver", dnsServer.ToString() }) psi.ArgumentList.Add(a);
        psi.Environment["PEBBLE_VA_NOSLEEP"] = "1";
        psi.Environment["PEBBLE_WFE_NONCEREJECT"] = nonceRejectPercent.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start pebble");
        var pebble = new PebbleProcess(process, directory, port, management, httpPort);
        process.OutputDataReceived += (_, e) => pebble.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => pebble.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!FreePort.IsListening(port) || !FreePort.IsListening(management))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await pebble.DisposeAsync();
                throw new InvalidOperationException("pebble did not start:\n" + pebble.Output);
            }
            await Task.Delay(100);
        }
        return pebble;
    }

    /// <summary>The root Pebble issues under (made at each start), from its management interface.</summary>
    public async Task<X509Certificate2> RootAsync()
    {
        using var http = TrustingClient();
        var pem = await http.GetStringAsync(new Uri($"https://localhost:{ManagementPort}/roots/0"));
        return X509Certificate2.CreateFromPem(pem);
    }

    /// <summary>An HttpClient that trusts <see cref="CaPath"/> alone.</summary>
    private HttpClient TrustingClient()
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(CaPath);
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return certificate is X509Certificate2 c && chain.Build(c);
        };
        return new HttpClient(handler);
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
        System.IO.Directory.Delete(_directory, recursive: true);
    }
}
