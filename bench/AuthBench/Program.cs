using System.Diagnostics;
using System.Globalization;
using Mail.Auth;
using Mail.Auth.Dkim;
using Mail.Core.Messages;
using Mail.Core.Model;
using Mail.Dns;
using Mail.Auth.Arc;
using Mail.Auth.Dmarc;
using Mail.Auth.Results;
using Mail.Core.InboundChecks;
using Mail.Spf;
using System.Net;
using Mail.Testing.Dns;
using MimeKit;

// Authentication checks per second over a corpus of DKIM-signed messages, one thread, warm DNS cache.
// Usage: AuthBench <corpus-dir> <domain> <selector> <public-key-base64> <client-ip> [seconds] [breakdown]
// With "breakdown" it also times each step on its own (parse, DKIM, SPF, ARC, DMARC, Authentication-Results) and
// prints microseconds per message for each: elapsed (step_us_<name>=...) and process CPU time (step_cpu_us_<name>=...,
// the steadier figure on a shared machine: time spent waiting for the CPU is not in it). "breakdown <step>" times
// that step alone (for perf).
// The zone (DKIM key, SPF, DMARC) is served by a loopback DNS server in this process; the resolver caches answers,
// so after the warm-up pass no query leaves the cache.
if (args.Length < 5)
{
    Console.Error.WriteLine("usage: AuthBench <corpus-dir> <domain> <selector> <public-key-base64> <client-ip> [seconds]");
    return 2;
}
var (dir, domain, selector, publicKey, clientIp) = (args[0], args[1], args[2], args[3], args[4]);
var seconds = args.Length > 5 ? double.Parse(args[5], CultureInfo.InvariantCulture) : 10;

var files = Directory.GetFiles(dir, "*.eml").Order(StringComparer.Ordinal).ToArray();
if (files.Length == 0)
{
    Console.Error.WriteLine($"no .eml files in {dir}");
    return 2;
}
var raw = files.Select(File.ReadAllBytes).ToArray();

await using var server = await TestDnsServer.StartAsync();
server.AddTxt($"{selector}._domainkey.{domain}", [$"v=DKIM1; k=rsa; p={publicKey}"], ttl: 3600);
server.AddTxt(domain, [$"v=spf1 ip4:{clientIp} -all"], ttl: 3600);
server.AddTxt($"_dmarc.{domain}", ["v=DMARC1; p=reject"], ttl: 3600);
var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [server.EndPoint], Timeout = TimeSpan.FromSeconds(2) });

var check = new AuthenticationCheck(resolver, new AuthenticationOptions { AuthServId = "mx.bench.test" });
var dkim = new DkimChecker(resolver);
var envelope = new Envelope
{
    QueueId = "bench",
    MessageRef = "bench",
    ReceivedAt = DateTimeOffset.UtcNow,
    Client = new ClientInfo { Address = clientIp, Helo = "out." + domain },
    MailFrom = "sender@" + domain,
    Recipients = [new Recipient { Address = "rcpt@example.net" }],
};

static MimeMessage Parse(byte[] bytes) => MimeMessage.Load(new MemoryStream(bytes, writable: false));
// The stored original as the inbound stage hands it over (a seekable stream); the check reads its buffer directly.
static MemoryStream Original(byte[] bytes) => new(bytes, 0, bytes.Length, writable: false, publiclyVisible: true);

// Warm-up: fills the DNS cache and JITs everything; also proves the corpus authenticates.
var dmarcPass = 0;
var dkimPass = 0;
foreach (var bytes in raw)
{
    var context = new InboundContext(envelope, Original(bytes));
    await check.RunAsync(context, CancellationToken.None);
    if (context.Results["dmarc"] == "pass" && context.Results["dkim"] == "pass" && context.Results["spf"] == "pass") dmarcPass++;
    if ((await dkim.VerifyAsync(RawMessage.Parse(bytes))).All(r => r.Code == DkimResultCode.Pass)) dkimPass++;
}
var queriesAfterWarmup = server.TotalQueries;
var inv = CultureInfo.InvariantCulture;

if (args.Length > 6 && args[6] == "breakdown")
{
    // Each step on its own over the whole corpus, in rounds; the components are the ones AuthenticationCheck runs.
    var parsed = raw.Select(Parse).ToArray();
    var scanned = raw.Select(r => RawMessage.Parse(r)).ToArray();
    var spf = new SpfChecker(resolver, new SpfOptions { ReceiverName = "mx.bench.test" });
    var arc = new ArcChecker(resolver);
    var dmarc = new DmarcChecker(resolver);
    var ip = IPAddress.Parse(clientIp);
    var dkimResults = new IReadOnlyList<DkimResult>[raw.Length];
    var dmarcResults = new DmarcResult[raw.Length];
    var arcResults = new ArcResult[raw.Length];
    for (var i = 0; i < raw.Length; i++)
    {
        dkimResults[i] = await dkim.VerifyAsync(scanned[i]);
        dmarcResults[i] = await dmarc.CheckAsync(scanned[i], domain, dkimResults[i]);
        arcResults[i] = await arc.VerifyAsync(parsed[i]);
    }
    var steps = new (string Name, Func<int, Task> Run)[]
    {
        ("parse", i => { Parse(raw[i]); return Task.CompletedTask; }),
        ("scan", i => { RawMessage.Parse(raw[i]); return Task.CompletedTask; }),
        ("dkim", async i => await dkim.VerifyAsync(scanned[i])),
        ("dkim_fields", i => { var m = scanned[i]; for (var f = 0; f < m.Count; f++) if (m.Is(m[f], "DKIM-Signature")) DkimSignatureFields.Parse(m.Value(m[f]), out _); return Task.CompletedTask; }),
        ("dkim_body_hash", i => { DkimBodyHash.Compute(scanned[i].Body, System.Security.Cryptography.HashAlgorithmName.SHA256, MimeKit.Cryptography.DkimCanonicalizationAlgorithm.Relaxed, null, out _); return Task.CompletedTask; }),
        ("spf", async i => await spf.CheckMailFromAsync(ip, envelope.MailFrom, envelope.Client.Helo)),
        ("arc", i => { if (ArcChecker.HasArcFields(scanned[i])) throw new InvalidOperationException("the corpus has no ARC fields"); return Task.CompletedTask; }),
        ("dmarc", async i => await dmarc.CheckAsync(scanned[i], domain, dkimResults[i])),
        ("auth_results", i =>
        {
            var ar = AuthenticationResultsHeader.Format("mx.bench.test", new AuthenticationSummary
            {
                Spf = new SpfSummary("pass", envelope.MailFrom, envelope.Client.Helo),
                Dkim = dkimResults[i],
                Dmarc = dmarcResults[i],
                Arc = arcResults[i],
                ClientAddress = clientIp,
            });
            AuthenticationResultsHeader.ToHeader(ar);
            return Task.CompletedTask;
        }),
        ("full", async i => await check.RunAsync(new InboundContext(envelope, Original(raw[i])), CancellationToken.None)),
    };
    if (args.Length > 7) steps = steps.Where(s => s.Name == args[7]).ToArray();
    var ticks = new double[steps.Length];
    var cpu = new double[steps.Length];
    var counts = new long[steps.Length];
    var perStep = TimeSpan.FromSeconds(seconds / steps.Length / 4);
    for (var round = 0; round < 4; round++)
    {
        for (var s = 0; s < steps.Length; s++)
        {
            var sw = Stopwatch.StartNew();
            var cpuBefore = Environment.CpuUsage.TotalTime;
            while (sw.Elapsed < perStep)
            {
                for (var i = 0; i < raw.Length; i++) await steps[s].Run(i);
                counts[s] += raw.Length;
            }
            ticks[s] += sw.Elapsed.TotalMicroseconds;
            cpu[s] += (Environment.CpuUsage.TotalTime - cpuBefore).TotalMicroseconds;
        }
    }
    var gcBefore = GC.CollectionCount(0);
    var allocBefore = GC.GetAllocatedBytesForCurrentThread();
    foreach (var bytes in raw) await check.RunAsync(new InboundContext(envelope, Original(bytes)), CancellationToken.None);
    var allocated = (GC.GetAllocatedBytesForCurrentThread() - allocBefore) / raw.Length;
    for (var s = 0; s < steps.Length; s++)
        Console.WriteLine(string.Create(inv, $"step_us_{steps[s].Name}={ticks[s] / counts[s]:F1} step_cpu_us_{steps[s].Name}={cpu[s] / counts[s]:F1}"));
    Console.WriteLine(string.Create(inv, $"allocated_bytes_per_full_check={allocated} gen0_collections={GC.CollectionCount(0) - gcBefore}"));
    return 0;
}

// Elapsed time and the process's CPU time (all threads: GC, the DNS cache's; not the time spent waiting for a core).
async Task<(int Count, double Elapsed, double Cpu)> MeasureAsync(Func<byte[], Task> work)
{
    var cpuBefore = Environment.CpuUsage.TotalTime;
    var sw = Stopwatch.StartNew();
    var count = 0;
    var limit = TimeSpan.FromSeconds(seconds);
    while (sw.Elapsed < limit)
    {
        foreach (var bytes in raw)
        {
            await work(bytes);
            count++;
        }
    }
    return (count, sw.Elapsed.TotalSeconds, (Environment.CpuUsage.TotalTime - cpuBefore).TotalSeconds);
}

// Alternate the two measurements in rounds so that a change in machine load hits both alike.
var full = (Count: 0, Elapsed: 0.0, Cpu: 0.0);
var dkimOnly = (Count: 0, Elapsed: 0.0, Cpu: 0.0);
const int Rounds = 4;
seconds /= Rounds;
for (var round = 0; round < Rounds; round++)
{
    var f = await MeasureAsync(async bytes =>
    {
        var context = new InboundContext(envelope, Original(bytes));
        await check.RunAsync(context, CancellationToken.None);
    });
    var d = await MeasureAsync(async bytes => await dkim.VerifyAsync(RawMessage.Parse(bytes)));
    full = (full.Count + f.Count, full.Elapsed + f.Elapsed, full.Cpu + f.Cpu);
    dkimOnly = (dkimOnly.Count + d.Count, dkimOnly.Elapsed + d.Elapsed, dkimOnly.Cpu + d.Cpu);
}

Console.WriteLine(string.Create(inv, $"messages={raw.Length}"));
Console.WriteLine(string.Create(inv, $"avg_size={raw.Average(r => r.Length):F0}"));
Console.WriteLine(string.Create(inv, $"warmup_all_pass={dmarcPass}"));
Console.WriteLine(string.Create(inv, $"warmup_dkim_pass={dkimPass}"));
Console.WriteLine(string.Create(inv, $"full_checks={full.Count} full_seconds={full.Elapsed:F3} full_per_sec={full.Count / full.Elapsed:F1} full_cpu_seconds={full.Cpu:F3}"));
Console.WriteLine(string.Create(inv, $"dkim_checks={dkimOnly.Count} dkim_seconds={dkimOnly.Elapsed:F3} dkim_per_sec={dkimOnly.Count / dkimOnly.Elapsed:F1} dkim_cpu_seconds={dkimOnly.Cpu:F3}"));
Console.WriteLine(string.Create(inv, $"dns_queries_during_measurement={server.TotalQueries - queriesAfterWarmup}"));
return dmarcPass == raw.Length ? 0 : 1;
