using System.Text;
using Mail.Dns;
using Mail.Testing.Dns;

namespace Mail.Spf.Tests.Suite;

/// <summary>
/// Starts one loopback DNS server per suite scenario, loaded with that scenario's zone data, and runs every case once
/// (a few at a time) through TestDnsServer → DnsResolver → SpfChecker; the tests then read the outcomes.
/// </summary>
public sealed class Rfc7208SuiteFixture : IAsyncLifetime
{
    // The suite writes "DEFAULT" where the implementation's own default explanation is expected.
    private const string DefaultExplanation = "DEFAULT";

    private readonly Dictionary<int, TestDnsServer> _servers = [];
    private readonly Dictionary<(string, string), string?> _failures = [];

    /// <summary>Null when the case passed, else what differed.</summary>
    public string? Failure(string scenario, string name) => _failures[(scenario, name)];

    public IReadOnlyCollection<string?> Outcomes => _failures.Values;

    public async Task InitializeAsync()
    {
        foreach (var s in Rfc7208Suite.Scenarios)
        {
            var server = await TestDnsServer.StartAsync();
            Rfc7208Suite.LoadZone(server, s);
            _servers[s.Index] = server;
        }
        var cases = Rfc7208Suite.Scenarios.SelectMany(s => s.Cases.Select(c => (s, c))).ToList();
        using var gate = new SemaphoreSlim(4);
        var runs = cases.Select(async x =>
        {
            await gate.WaitAsync();
            try
            {
                return (x.s.Description, x.c.Name, Failure: await RunAsync(x.s, x.c));
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        foreach (var (scenario, name, failure) in await Task.WhenAll(runs))
            _failures[(scenario, name)] = failure;
    }

    public async Task DisposeAsync()
    {
        foreach (var s in _servers.Values) await s.DisposeAsync();
    }

    /// <summary>Runs one case; null when it passed, else a line saying what differed.</summary>
    private async Task<string?> RunAsync(SuiteScenario s, SuiteCase c)
    {
        // A fresh resolver per case: the cache is exercised within a case, never across cases. One retry and 1 s
        // keep a busy CI machine from turning a slow answer into a false temperror; TIMEOUT names cost 2 s.
        var dns = new DnsResolver(new DnsResolverOptions
        {
            NameServers = [_servers[s.Index].EndPoint],
            Timeout = TimeSpan.FromSeconds(1),
            Retries = 1,
        });
        var checker = new SpfChecker(dns, new SpfOptions { DefaultExplanation = DefaultExplanation, ReceiverName = "receiver.example.net" });

        var result = await checker.CheckMailFromAsync(Rfc7208Suite.Host(c), c.MailFrom, c.Helo);

        if (!c.Results.Contains(result.ResultName))
            return $"{s.Description} / {c.Name}: got {result.ResultName} (mechanism '{result.Mechanism}', problem '{result.Problem}'), expected {string.Join(" or ", c.Results)}";
        if (c.Explanation is not null && result.Code == SpfResultCode.Fail && result.Explanation != c.Explanation)
            return $"{s.Description} / {c.Name}: explanation '{result.Explanation}', expected '{c.Explanation}'";
        return null;
    }
}

/// <summary>
/// Every case of the openspf RFC 7208 suite, through the real path: TestDnsServer on loopback → DnsResolver (DnsClient)
/// → SpfChecker. Each case is its own theory row (named scenario / case), and one fact asserts that all pass.
/// </summary>
public sealed class Rfc7208SuiteTests(Rfc7208SuiteFixture fixture) : IClassFixture<Rfc7208SuiteFixture>
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var s in Rfc7208Suite.Scenarios)
            foreach (var c in s.Cases)
                data.Add(s.Description, c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case(string scenario, string name)
    {
        var failure = fixture.Failure(scenario, name);

        Assert.True(failure is null, failure);
    }

    [Fact]
    public void All_203_cases_pass()
    {
        var failures = fixture.Outcomes.Where(f => f is not null).ToList();
        var total = fixture.Outcomes.Count;
        var report = new StringBuilder($"RFC 7208 suite: {total - failures.Count}/{total} passed");
        foreach (var f in failures) report.Append('\n').Append(f);

        Assert.Equal(203, total);
        Assert.True(failures.Count == 0, report.ToString());
    }
}
