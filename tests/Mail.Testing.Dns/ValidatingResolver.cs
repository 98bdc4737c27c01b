using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;
using Mail.Dns;
using Xunit;

namespace Mail.Testing.Dns;

/// <summary>How <see cref="ValidatingResolver"/> serves and anchors one zone.</summary>
public enum ZoneSecurity
{
    /// <summary>Signed by knotd, its KSK a trust anchor of unbound: answers are validated (AD).</summary>
    Signed,
    /// <summary>Unsigned and under no trust anchor: answers are insecure (no AD), as for most of the Internet.</summary>
    Unsigned,
    /// <summary>Signed by knotd, but unbound trusts another key: every answer fails validation (SERVFAIL).</summary>
    Bogus,
}

/// <param name="Records">Zone-file lines relative to the zone ("mx A 127.0.0.1"); SOA, NS and ns A are added.</param>
public sealed record TestZone(string Name, ZoneSecurity Security, params string[] Records);

/// <summary>
/// A real DNSSEC-validating recursive resolver on loopback: knotd serves the zones (signing the signed ones itself,
/// automatic key management), unbound validates with the signed zones' DNSKEYs as trust anchors and answers with the
/// AD bit as any validating resolver does. Point Dns:NameServers at <see cref="EndPoint"/>.
/// </summary>
public sealed class ValidatingResolver : IAsyncDisposable
{
    private const string Knotd = "/usr/sbin/knotd";
    private const string Unbound = "/usr/sbin/unbound";
    private const string Kdig = "/usr/bin/kdig";

    private readonly string _directory;
    private readonly List<Process> _processes = [];
    private readonly StringBuilder _log = new();

    private ValidatingResolver(string directory) => _directory = directory;

    /// <summary>Null when knotd, kdig and unbound are installed; else the one line a test skips with.</summary>
    public static string? Missing =>
        new[] { Knotd, Kdig, Unbound }.All(File.Exists) ? null
            : $"DNSSEC tests need knotd, kdig and unbound ({string.Join(", ", new[] { Knotd, Kdig, Unbound }.Where(p => !File.Exists(p)))} missing): apt-get install knot knot-dnsutils unbound, or ./test.sh --deps-only";

    /// <summary>unbound: the validating resolver.</summary>
    public IPEndPoint EndPoint { get; private set; } = null!;

    /// <summary>knotd: the authoritative server (no validation, no AD).</summary>
    public IPEndPoint Authoritative { get; private set; } = null!;

    /// <summary>What knotd and unbound printed (for a failing test's output).</summary>
    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    public IDnsResolver Resolver(bool cache = false) => new DnsResolver(new DnsResolverOptions
    {
        NameServers = [EndPoint],
        UseCache = cache,
        Timeout = TimeSpan.FromSeconds(3),
        Retries = 1,
    });

    public static async Task<ValidatingResolver> StartAsync(params TestZone[] zones)
    {
        if (Missing is { } missing) throw new InvalidOperationException(missing);
        if (zones.Length == 0) throw new ArgumentException("at least one zone", nameof(zones));
        var dir = Directory.CreateTempSubdirectory("dnssec-").FullName;
        var server = new ValidatingResolver(dir);
        try
        {
            await server.StartKnotAsync(zones);
            await server.StartUnboundAsync(zones);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task StartKnotAsync(TestZone[] zones)
    {
        var port = FreePort.TcpAndUdp();
        Authoritative = new IPEndPoint(IPAddress.Loopback, port);
        Directory.CreateDirectory(Path.Combine(_directory, "keys"));
        var conf = new StringBuilder().Append(CultureInfo.InvariantCulture, $"""
            server:
                listen: 127.0.0.1@{port}
                rundir: {_directory}
            database:
                storage: {_directory}
                kasp-db: {_directory}/keys
            log:
              - target: stderr
                any: info
            policy:
              - id: test
                algorithm: ecdsap256sha256
                ksk-lifetime: 0
                zsk-lifetime: 0
                nsec3: off
            template:
              - id: default
                storage: {_directory}
                file: "%s.zone"
                zonefile-sync: -1
            zone:

            """);
        foreach (var zone in zones)
        {
            conf.Append(CultureInfo.InvariantCulture, $"  - domain: {zone.Name}\n");
            if (zone.Security != ZoneSecurity.Unsigned) conf.Append("    dnssec-signing: on\n    dnssec-policy: test\n");
            await File.WriteAllTextAsync(Path.Combine(_directory, zone.Name + ".zone"),
                $"$TTL 300\n@ SOA ns.{zone.Name}. hostmaster.{zone.Name}. 1 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\n" + string.Join('\n', zone.Records) + "\n");
        }
        var path = Path.Combine(_directory, "knot.conf");
        await File.WriteAllTextAsync(path, conf.ToString());
        Start("knotd", Knotd, "-c", path);
        // Ready when every zone is loaded (signed zones are signed before they are served).
        var probe = new DnsResolver(new DnsResolverOptions { NameServers = [Authoritative], UseCache = false, Timeout = TimeSpan.FromMilliseconds(500), Retries = 0 });
        await WaitAsync(async () =>
        {
            foreach (var zone in zones)
                if ((await probe.AAsync("ns." + zone.Name)).Status != DnsStatus.Ok) return false;
            return true;
        }, "knotd");
    }

    private async Task StartUnboundAsync(TestZone[] zones)
    {
        var port = FreePort.TcpAndUdp();
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
        var conf = new StringBuilder().Append(CultureInfo.InvariantCulture, $"""
            server:
              interface: 127.0.0.1
              port: {port}
              do-daemonize: no
              username: ""
              chroot: ""
              directory: "{_directory}"
              pidfile: ""
              use-syslog: no
              logfile: ""
              verbosity: 1
              val-log-level: 2
              num-threads: 1
              do-ip6: no
              do-not-query-localhost: no
              qname-minimisation: no
              module-config: "validator iterator"
              access-control: 127.0.0.0/8 allow
              local-zone: "test." nodefault

            """);
        foreach (var zone in zones.Where(z => z.Security != ZoneSecurity.Unsigned))
        {
            var key = zone.Security == ZoneSecurity.Signed
                ? await KskAsync(zone.Name)
                // A well-formed ECDSA P-256 key that is not the zone's: every signature fails to validate.
                : "257 3 13 " + Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
            conf.Append(CultureInfo.InvariantCulture, $"  trust-anchor: \"{zone.Name}. DNSKEY {key}\"\n");
        }
        foreach (var zone in zones)
            conf.Append(CultureInfo.InvariantCulture, $"stub-zone:\n  name: \"{zone.Name}\"\n  stub-addr: 127.0.0.1@{Authoritative.Port}\n");
        var path = Path.Combine(_directory, "unbound.conf");
        await File.WriteAllTextAsync(path, conf.ToString());
        Start("unbound", Unbound, "-d", "-c", path);
        var probe = Resolver();
        var name = "ns." + zones.First().Name;
        var expect = zones.First().Security == ZoneSecurity.Bogus ? DnsStatus.Failed : DnsStatus.Ok;
        await WaitAsync(async () => (await probe.AAsync(name)).Status == expect && Log.Contains("start of service", StringComparison.Ordinal), "unbound");
    }

    /// <summary>The zone's key-signing key (flags 257) as knotd publishes it, "257 3 13 BASE64".</summary>
    private async Task<string> KskAsync(string zone)
    {
        var r = await ExternalProcess.RunAsync(Kdig, [$"@127.0.0.1", "-p", Authoritative.Port.ToString(CultureInfo.InvariantCulture), zone, "DNSKEY", "+short"], timeout: TimeSpan.FromSeconds(10));
        var ksk = r.StdOut.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("257 ", StringComparison.Ordinal));
        return ksk ?? throw new InvalidOperationException($"knotd published no KSK for {zone}: {r.StdOut}{r.StdErr}\n{Log}");
    }

    private void Start(string name, string program, params string[] arguments)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"{program} did not start");
        void Append(string? line)
        {
            if (line is null) return;
            lock (_log) _log.Append(name).Append(": ").AppendLine(line);
        }
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        _processes.Add(p);
    }

    private async Task WaitAsync(Func<Task<bool>> ready, string what)
    {
        for (var i = 0; i < 100; i++)
        {
            if (_processes.FirstOrDefault(p => p.HasExited) is { } exited)
                throw new InvalidOperationException($"{what} exited with {exited.ExitCode}:\n{Log}");
            if (await ready()) return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{what} was not ready within 10 seconds:\n{Log}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill();
                    await p.WaitForExitAsync();
                }
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A fact that needs <see cref="ValidatingResolver"/>: skipped with one line naming the packages when knotd or unbound is missing.</summary>
public sealed class DnssecFactAttribute : FactAttribute
{
    public DnssecFactAttribute()
    {
        if (ValidatingResolver.Missing is { } missing) Skip = missing;
    }
}
