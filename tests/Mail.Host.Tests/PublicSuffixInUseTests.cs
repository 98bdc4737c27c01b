using Mail.Testing;
using Mail.Testing.Dns;

namespace Mail.Host.Tests;

/// <summary>`mail serve` finds DMARC's organizational domain with the list in the data directory when there is one.</summary>
[Collection("host")]
public sealed class PublicSuffixInUseTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Dmarc_org_domain_lookup_uses_the_refreshed_list()
    {
        // The shipped list has no "custom-suffix.test" rule, so with it the org domain of sub.brand.custom-suffix.test
        // would be custom-suffix.test; with the refreshed list it is brand.custom-suffix.test.
        var shipped = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "core", "Mail.Auth", "PublicSuffix", "public_suffix_list.dat"));
        await File.WriteAllTextAsync(Path.Combine(_data.Path, PublicSuffixRefresh.FileName), shipped + "\ncustom-suffix.test\n");
        await using var dns = await TestDnsServer.StartAsync();
        dns.Add("_dmarc.brand.custom-suffix.test", DnsRecordType.TXT, "v=DMARC1; p=none");
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");

        await using var host = await HostProcess.StartAsync(_data.Path, $"--Dns:NameServers:0={dns.EndPoint}", "--Dns:Retries=1");
        var sent = await ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "alice@example.org",
            "--from", "bob@sub.brand.custom-suffix.test", "--header", "Subject: psl"]);
        Assert.True(sent.ExitCode == 0, sent.StdOut + sent.StdErr);
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));

        Assert.True(dns.QueryCount("_dmarc.brand.custom-suffix.test", DnsRecordType.TXT) >= 1, host.Output);
        Assert.Equal(0, dns.QueryCount("_dmarc.custom-suffix.test", DnsRecordType.TXT));
    }
}
