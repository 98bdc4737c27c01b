using System.Diagnostics;
using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Mail.Testing;

namespace Mail.Azure.Tests;

/// <summary>
/// A real Azurite for the test run: one that is already running (AZURITE_CONNECTION_STRING, or AZURITE_BLOB_ENDPOINT +
/// AZURITE_QUEUE_ENDPOINT + AZURITE_TABLE_ENDPOINT, or the default ports 10000-10002 answering on 127.0.0.1), else one
/// started here in memory and stopped after: in a container through Testcontainers where a Docker engine answers
/// (DOCKER_HOST or /var/run/docker.sock), else on free loopback ports from AZURITE_PATH,
/// &lt;repo&gt;/node_modules/.bin/azurite, /tmp/azurite-npm/node_modules/.bin/azurite or azurite on PATH (npm). Tests
/// isolate themselves by using fresh container, queue and table names.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private const string Account = "devstoreaccount1";
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    /// <summary>The Azurite image, the same version test.sh installs from npm.</summary>
    public const string Image = "mcr.microsoft.com/azure-storage/azurite:3.35.0";

    private Process? _process;
    private IContainer? _container;

    public string ConnectionString { get; private set; } = "";

    /// <summary>What the fixture did, for failure messages.</summary>
    public string Origin { get; private set; } = "";

    public BlobServiceClient Blobs => new(ConnectionString);
    public QueueServiceClient Queues => new(ConnectionString, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
    public TableServiceClient Tables => new(ConnectionString);

    /// <summary>A name unique to this run, valid for containers, queues and tables (lower-case letters and digits).</summary>
    public static string UniqueName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..12];

    public async Task InitializeAsync()
    {
        var env = Environment.GetEnvironmentVariable("AZURITE_CONNECTION_STRING");
        if (!string.IsNullOrEmpty(env))
        {
            ConnectionString = env;
            Origin = "AZURITE_CONNECTION_STRING";
            return;
        }
        var blob = Environment.GetEnvironmentVariable("AZURITE_BLOB_ENDPOINT");
        var queue = Environment.GetEnvironmentVariable("AZURITE_QUEUE_ENDPOINT");
        var table = Environment.GetEnvironmentVariable("AZURITE_TABLE_ENDPOINT");
        if (!string.IsNullOrEmpty(blob) && !string.IsNullOrEmpty(queue) && !string.IsNullOrEmpty(table))
        {
            ConnectionString = Build(blob, queue, table);
            Origin = "AZURITE_*_ENDPOINT";
            return;
        }
        if (await AnswersAsync(10000) && await AnswersAsync(10001) && await AnswersAsync(10002))
        {
            ConnectionString = Build(Endpoint(10000), Endpoint(10001), Endpoint(10002));
            Origin = "running Azurite on 10000-10002";
            return;
        }
        string? dockerFailure = null;
        if (DockerAvailable())
        {
            try
            {
                await StartContainerAsync();
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // An engine that answers but cannot run the image (offline, no pull rights): npm is the fallback.
                dockerFailure = $"Docker: {e.GetType().Name}: {e.Message}; ";
                if (_container is not null) await _container.DisposeAsync();
                _container = null;
            }
        }
        await StartAsync();
        Origin = dockerFailure + Origin;
    }

    /// <summary>A Docker engine to ask: DOCKER_HOST set, or the default socket present. Not asked otherwise, so a
    /// machine without Docker never waits on Testcontainers' own discovery.</summary>
    public static bool DockerAvailable() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")) || File.Exists("/var/run/docker.sock");

    private async Task StartContainerAsync()
    {
        const int blob = 10000, queue = 10001, table = 10002;
        _container = new ContainerBuilder(Image)
            .WithCommand("azurite", "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
                "--blobHost", "0.0.0.0", "--queueHost", "0.0.0.0", "--tableHost", "0.0.0.0")
            .WithPortBinding(blob, assignRandomHostPort: true)
            .WithPortBinding(queue, assignRandomHostPort: true)
            .WithPortBinding(table, assignRandomHostPort: true)
            .WithWaitStrategy(Wait.ForUnixContainer()
                .UntilInternalTcpPortIsAvailable(blob).UntilInternalTcpPortIsAvailable(queue).UntilInternalTcpPortIsAvailable(table))
            .Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await _container.StartAsync(timeout.Token);
        string Url(int port) => $"http://{_container.Hostname}:{_container.GetMappedPublicPort(port)}/{Account}";
        ConnectionString = Build(Url(blob), Url(queue), Url(table));
        Origin = $"Testcontainers: {Image} as {_container.Name}";
    }

    private async Task StartAsync()
    {
        var exe = FindAzurite() ?? throw new InvalidOperationException(
            "Azurite not found: set AZURITE_PATH, or `npm install azurite` in the repository (node_modules/.bin/azurite) or /tmp/azurite-npm.");
        int blob = FreePort.Tcp(), queue = FreePort.Tcp(), table = FreePort.Tcp();
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var a in new[]
        {
            "--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
            "--blobHost", "127.0.0.1", "--blobPort", blob.ToString(),
            "--queueHost", "127.0.0.1", "--queuePort", queue.ToString(),
            "--tableHost", "127.0.0.1", "--tablePort", table.ToString(),
        }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {exe}");
        var output = new System.Text.StringBuilder();
        _process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(await AnswersAsync(blob) && await AnswersAsync(queue) && await AnswersAsync(table)))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                string text;
                lock (output) text = output.ToString();
                throw new InvalidOperationException($"Azurite ({exe}) did not start on ports {blob}/{queue}/{table}: {text}");
            }
            await Task.Delay(100);
        }
        ConnectionString = Build(Endpoint(blob), Endpoint(queue), Endpoint(table));
        Origin = $"started {exe} on {blob}/{queue}/{table}";
    }

    public async Task DisposeAsync()
    {
        if (_container is not null) await _container.DisposeAsync();
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process?.Dispose();
    }

    private static string Endpoint(int port) => $"http://127.0.0.1:{port}/{Account}";

    private static string Build(string blob, string queue, string table) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint={blob};QueueEndpoint={queue};TableEndpoint={table};";

    private static async Task<bool> AnswersAsync(int port)
    {
        using var c = new TcpClient();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await c.ConnectAsync("127.0.0.1", port, cts.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private static string? FindAzurite()
    {
        var candidates = new List<string?>();
        if (Environment.GetEnvironmentVariable("AZURITE_PATH") is { Length: > 0 } configured)
        {
            // Either the program itself or a directory holding it (an npm prefix or its .bin).
            candidates.Add(configured);
            candidates.Add(Path.Combine(configured, "azurite"));
            candidates.Add(Path.Combine(configured, "node_modules", ".bin", "azurite"));
        }
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Cloud.sln")))
            {
                candidates.Add(Path.Combine(d.FullName, "node_modules", ".bin", "azurite"));
                break;
            }
        }
        candidates.Add("/tmp/azurite-npm/node_modules/.bin/azurite");
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(p => Path.Combine(p, "azurite")));
        return candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c));
    }
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
