using System.Net;
using System.Net.Sockets;
using Mail.Testing;
using Mail.Testing.Dns;

namespace Mail.Host.Tests;

/// <summary>
/// A dependency that is down or refuses, a certificate that cannot be loaded, a port in use, a data directory that
/// cannot be written: the real `mail` executable answers with one line on stderr naming what failed and the setting to
/// look at, and an exit code from docs/exit-codes.md; no stack trace unless --verbose. What only a message needs (DNS,
/// a policy server) is a temporary SMTP failure for that message, never a crash.
/// </summary>
[Collection("host")]
public sealed class FailureReportTests : IDisposable
{
    private const int Unavailable = 69, IoError = 74, Config = 78;
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    // ---- Azure storage (cloud mode) ----

    [Theory]
    [InlineData("domain add example.org")]
    [InlineData("user list")]
    [InlineData("queue")]
    public async Task Admin_command_with_azure_storage_down_names_the_connection_string(string command)
    {
        var r = await HostProcess.RunAsync([.. command.Split(' '), "--data", _data.Path, .. Cloud(ClosedEndpoint())]);
        AssertOneLine(r, Unavailable, "Azure:ConnectionString");
        Assert.Contains("Azure storage", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("Connection refused", r.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("down", "Connection refused")]
    [InlineData("refusing", "refused the request: 403")]
    public async Task Serve_with_azure_storage_down_or_refusing_names_the_connection_string(string storage, string why)
    {
        await using var refusing = await CannedHttpServer.StartAsync(403, "application/xml", "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code></Error>");
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, .. AnyPorts, .. Cloud(storage == "down" ? ClosedEndpoint() : refusing.BaseUrl)]);
        AssertOneLine(r, Unavailable, "Azure:ConnectionString");
        Assert.Contains(why, r.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(403, "AuthenticationFailed")] // a wrong account key, or an identity without the role
    [InlineData(503, "ServerBusy")]           // still failing after the SDK's retries
    public async Task Azure_storage_that_refuses_is_one_line_with_the_status(int status, string code)
    {
        await using var storage = await CannedHttpServer.StartAsync(status, "application/xml",
            $"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>refused by the test</Message></Error>",
            new Dictionary<string, string> { ["x-ms-error-code"] = code });
        var r = await HostProcess.RunAsync(["domain", "add", "example.org", "--data", _data.Path, .. Cloud(storage.BaseUrl)]);
        AssertOneLine(r, Unavailable, "Azure:ConnectionString");
        Assert.Contains($"refused the request: {status}", r.StdErr, StringComparison.Ordinal);
        Assert.True(storage.Requests >= 1);
    }

    [Fact]
    public async Task Azure_service_uris_without_an_identity_name_the_identity_setting()
    {
        var uri = $"https://127.0.0.1:{FreePort.Tcp()}/devstoreaccount1";
        // Without the variables DefaultAzureCredential reads, wherever the tests run.
        var r = await HostProcess.RunAsync(["domain", "list", "--data", _data.Path, "--Mode=cloud",
            $"--Azure:BlobServiceUri={uri}", $"--Azure:QueueServiceUri={uri}", $"--Azure:TableServiceUri={uri}"],
            environment: new Dictionary<string, string> { ["AZURE_CLIENT_ID"] = "", ["AZURE_TENANT_ID"] = "", ["AZURE_CLIENT_SECRET"] = "", ["IDENTITY_ENDPOINT"] = "", ["MSI_ENDPOINT"] = "" });
        AssertOneLine(r, Unavailable, "Azure:ManagedIdentityClientId");
        Assert.Contains("Azure sign-in", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Azure_service_uri_the_sdk_cannot_use_is_a_configuration_error()
    {
        // An IP-address endpoint needs the account name as its path; the SDK's client constructor fails without it.
        var uri = $"https://127.0.0.1:{FreePort.Tcp()}/";
        var r = await HostProcess.RunAsync(["domain", "list", "--data", _data.Path, "--Mode=cloud",
            $"--Azure:BlobServiceUri={uri}", $"--Azure:QueueServiceUri={uri}", $"--Azure:TableServiceUri={uri}"]);
        AssertOneLine(r, Config, "Azure:TableServiceUri");
    }

    // ---- TLS certificate ----

    [Theory]
    [InlineData("missing", "cannot be read")]
    [InlineData("directory", "cannot be read")]
    [InlineData("not a certificate", "not a PKCS#12")]
    public async Task Certificate_that_cannot_be_loaded_names_the_setting(string kind, string why)
    {
        var path = Path.Combine(_data.Path, "cert.pfx");
        if (kind == "directory") Directory.CreateDirectory(path);
        if (kind == "not a certificate") await File.WriteAllTextAsync(path, "-----BEGIN NOTHING-----\nthis is not PKCS#12\n");
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, .. AnyPorts, $"--Tls:CertificatePath={path}"]);
        AssertOneLine(r, Config, "Tls:CertificatePath");
        Assert.Contains($"TLS certificate '{path}': {why}", r.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Tls:ReloadInterval=00:00:00", "Tls:ReloadInterval", "must be positive")]
    [InlineData("--Tls:KeyVaultCertificate=https://v.vault.azure.net/secrets/mail", "Tls:KeyVaultCertificate", "is not a Key Vault certificate identifier")]
    [InlineData("--Tls:KeyVaultCertificate=not a url", "Tls:KeyVaultCertificate", "is not a URL")]
    [InlineData("--Tls:KeyPath=/etc/key.pem", "Tls:CertificatePath", "Tls:KeyPath is set without Tls:CertificatePath")]
    public async Task Bad_tls_setting_names_the_setting(string argument, string setting, string why)
    {
        // ReloadInterval is checked once there is a certificate to reload: a file that exists.
        var pfx = Path.Combine(_data.Path, "cert.pfx");
        await File.WriteAllBytesAsync(pfx, TestCertificates.SelfSigned("a.example.org").Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12));
        string[] extra = setting == "Tls:ReloadInterval" ? [$"--Tls:CertificatePath={pfx}"] : [];
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, .. AnyPorts, argument, .. extra]);
        AssertOneLine(r, Config, setting);
        Assert.Contains(why, r.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Outbound:TlsCaFile", "missing", "cannot read certificates from")]
    [InlineData("Outbound:TlsCaFile", "not pem", "holds no PEM certificate")]
    [InlineData("Outbound:MtaSts:PolicyPort", "0", "must be 1-65535 (got 0)")]
    [InlineData("Outbound:MtaSts:FetchTimeout", "00:00:00", "must be positive")]
    public async Task Bad_mta_sts_setting_names_the_setting(string setting, string value, string why)
    {
        var path = Path.Combine(_data.Path, "ca.pem");
        if (value == "not pem") await File.WriteAllTextAsync(path, "no certificate here\n");
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, .. AnyPorts, $"--{setting}={(value is "missing" or "not pem" ? path : value)}"]);
        AssertOneLine(r, Config, setting);
        Assert.Contains(why, r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verbose_adds_the_stack_trace_after_the_line()
    {
        var path = Path.Combine(_data.Path, "missing.pfx");
        var r = await HostProcess.RunAsync(["serve", "--verbose", "--data", _data.Path, .. AnyPorts, $"--Tls:CertificatePath={path}"]);
        Assert.Equal(Config, r.ExitCode);
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("mail: TLS certificate", lines[0], StringComparison.Ordinal);
        Assert.Contains("(check Tls:CertificatePath)", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("   at ", StringComparison.Ordinal));
    }

    // ---- the machine: ports, data directory ----

    [Theory]
    [InlineData("Smtp:Listeners:0:Endpoint")]
    [InlineData("Imap:Listeners:0:Endpoint")]
    [InlineData("Pop3:Listeners:1:Endpoint")]
    [InlineData("Admin:Endpoint")]
    [InlineData("Autoconfig:Endpoint")]
    [InlineData("Autoconfig:HttpsEndpoint")]
    public async Task Listener_port_in_use_names_the_endpoint_setting(string setting)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var r = await HostProcess.RunAsync(["serve", "--data", _data.Path, .. AnyPorts, $"--{setting}=127.0.0.1:{port}"]);
        AssertOneLine(r, IoError, setting);
        Assert.Contains($"127.0.0.1:{port}", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("Address already in use", r.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve")]
    [InlineData("domain list")]
    public async Task Data_directory_that_cannot_be_written_names_the_setting(string command)
    {
        // Under a regular file: no directory can be made there, even by root (chmod would not stop root).
        var file = Path.Combine(_data.Path, "a-file");
        await File.WriteAllTextAsync(file, "x");
        var r = await HostProcess.RunAsync([.. command.Split(' '), "--data", Path.Combine(file, "data"), .. command == "serve" ? AnyPorts : []]);
        AssertOneLine(r, IoError, "DataDirectory");
    }

    [Fact]
    public async Task Data_directory_database_that_is_not_a_database_names_the_setting()
    {
        await File.WriteAllTextAsync(Path.Combine(_data.Path, "mail.db"), new string('x', 4096));
        var r = await HostProcess.RunAsync(["domain", "list", "--data", _data.Path]);
        AssertOneLine(r, IoError, "DataDirectory");
        Assert.Contains("not a database", r.StdErr, StringComparison.Ordinal);
    }

    // ---- per message: DNS and the policy server are asked for each client, not at startup ----

    [Fact]
    public async Task Name_server_that_does_not_answer_is_a_temporary_failure_for_the_message()
    {
        // A UDP port with nothing bound: the query is refused by the kernel (ICMP port unreachable) or times out.
        var closed = FreePort.TcpAndUdp();
        await AddAliceAsync();
        await using var host = await HostProcess.StartAsync(_data.Path,
            $"--Dns:NameServers:0=127.0.0.1:{closed}", "--Dns:Timeout=00:00:01", "--Dns:Retries=0", "--Dns:UseTcpFallback=false",
            "--Defences:Restrictions:smtpd_client_restrictions=reject_unknown_client_hostname");
        await AssertTemporaryFailureAsync(host, "450 4.7.25");
    }

    [Fact]
    public async Task Name_server_that_refuses_is_a_temporary_failure_for_the_message()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.SetRefused("1.0.0.127.in-addr.arpa");
        await AddAliceAsync();
        await using var host = await HostProcess.StartAsync(_data.Path,
            $"--Dns:NameServers:0={dns.EndPoint}", "--Dns:Retries=0",
            "--Defences:Restrictions:smtpd_client_restrictions=reject_unknown_client_hostname");
        await AssertTemporaryFailureAsync(host, "450 4.7.25");
        Assert.True(dns.TotalQueries >= 1, "the configured name server was not asked");
    }

    [Fact]
    public async Task Policy_server_that_is_down_is_a_temporary_failure_naming_the_restriction()
    {
        var closed = FreePort.Tcp();
        await AddAliceAsync();
        await using var host = await HostProcess.StartAsync(_data.Path,
            $"--Defences:Restrictions:smtpd_recipient_restrictions=check_policy_service inet:127.0.0.1:{closed}, permit");
        await AssertTemporaryFailureAsync(host, "451 4.3.5");
        await host.WaitForOutputAsync("(check smtpd_recipient_restrictions)", TimeSpan.FromSeconds(10));
        Assert.Contains($"policy service inet:127.0.0.1:{closed}", host.Output, StringComparison.Ordinal);
    }

    // ---- helpers ----

    /// <summary>The reply to the client is the temporary code; the server goes on serving and prints no stack trace.</summary>
    private static async Task AssertTemporaryFailureAsync(HostProcess host, string reply)
    {
        var r = await ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "alice@example.org", "--from", "bob@example.net"]);
        Assert.True(r.StdOut.Contains(reply, StringComparison.Ordinal), r.StdOut + r.StdErr);
        var again = await ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--quit-after", "EHLO"]);
        Assert.True(again.ExitCode == 0, "the server did not go on serving:\n" + again.StdOut + again.StdErr + host.Output);
        Assert.False(host.HasExited);
        Assert.DoesNotContain("   at ", host.Output, StringComparison.Ordinal);
    }

    private async Task AddAliceAsync()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
    }

    /// <summary>The code, one line on stderr naming the setting, no stack frame anywhere.</summary>
    private static void AssertOneLine(ExternalProcess.Result r, int exitCode, string setting)
    {
        Assert.True(r.ExitCode == exitCode, $"exit code {r.ExitCode}, expected {exitCode}:\n{r.StdErr}\n{r.StdOut}");
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "stderr is not one line:\n" + r.StdErr);
        Assert.StartsWith("mail: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(setting, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.StdErr + r.StdOut, StringComparison.Ordinal);
    }

    /// <summary>Every listener on a port the kernel picks: the test is about something else.</summary>
    private static readonly string[] AnyPorts =
    [
        "--Smtp:Listeners:0:Endpoint=127.0.0.1:0", "--Smtp:Listeners:1:Endpoint=127.0.0.1:0", "--Smtp:Listeners:2:Endpoint=127.0.0.1:0",
        "--Imap:Listeners:0:Endpoint=127.0.0.1:0", "--Imap:Listeners:1:Endpoint=127.0.0.1:0",
        "--Pop3:Listeners:0:Endpoint=127.0.0.1:0", "--Pop3:Listeners:1:Endpoint=127.0.0.1:0",
        // Not its default port: another `mail serve` on the machine may hold it, and the test would fail on that instead.
        "--ManageSieve:Listeners:0:Endpoint=127.0.0.1:0",
    ];

    private static string ClosedEndpoint() => $"http://127.0.0.1:{FreePort.Tcp()}/";

    /// <summary>Cloud mode as tests/Mail.Azure.Tests configures it: Azurite's well-known account, at <paramref name="baseUrl"/>.</summary>
    private static string[] Cloud(string baseUrl)
    {
        var account = baseUrl + "devstoreaccount1";
        return
        [
            "--Mode=cloud",
            "--Azure:ConnectionString=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
            $"BlobEndpoint={account};QueueEndpoint={account};TableEndpoint={account};",
        ];
    }
}
