using System.Diagnostics;
using System.Globalization;
using Mail.Auth;
using Mail.Auth.Dkim;
using Mail.Core.Model;
using Mail.Dns;
using Mail.Pipeline.Inbound;
using Mail.Testing.Dns;
using MimeKit;

// Authentication checks per second over a corpus of DKIM-signed messages, one thread, warm DNS cache.
// Usage: AuthBench <corpus-dir> <domain> <selector> <public-key-base64> <client-ip> [seconds]
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

// Warm-up: fills the DNS cache and JITs everything; also proves the corpus authenticates.
var dmarcPass = 0;
var dkimPass = 0;
foreach (var bytes in raw)
{
    var context = new InboundContext(envelope, Parse(bytes));
    await check.RunAsync(context, CancellationToken.None);
    if (context.Results["dmarc"] == "pass" && context.Results["dkim"] == "pass" && context.Results["spf"] == "pass") dmarcPass++;
    if ((await dkim.VerifyAsync(Parse(bytes))).All(r => r.Code == DkimResultCode.Pass)) dkimPass++;
}
var queriesAfterWarmup = server.TotalQueries;

async Task<(int Count, double Elapsed)> MeasureAsync(Func<byte[], Task> work)
{
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
    return (count, sw.Elapsed.TotalSeconds);
}

// Alternate the two measurements in rounds so that a change in machine load hits both alike.
var full = (Count: 0, Elapsed: 0.0);
var dkimOnly = (Count: 0, Elapsed: 0.0);
const int Rounds = 4;
seconds /= Rounds;
for (var round = 0; round < Rounds; round++)
{
    var f = await MeasureAsync(async bytes =>
    {
        var context = new InboundContext(envelope, Parse(bytes));
        await check.RunAsync(context, CancellationToken.None);
    });
    var d = await MeasureAsync(async bytes => await dkim.VerifyAsync(Parse(bytes)));
    full = (full.Count + f.Count, full.Elapsed + f.Elapsed);
    dkimOnly = (dkimOnly.Count + d.Count, dkimOnly.Elapsed + d.Elapsed);
}

var inv = CultureInfo.InvariantCulture;
Console.WriteLine(string.Create(inv, $"messages={raw.Length}"));
Console.WriteLine(string.Create(inv, $"avg_size={raw.Average(r => r.Length):F0}"));
Console.WriteLine(string.Create(inv, $"warmup_all_pass={dmarcPass}"));
Console.WriteLine(string.Create(inv, $"warmup_dkim_pass={dkimPass}"));
Console.WriteLine(string.Create(inv, $"full_checks={full.Count} full_seconds={full.Elapsed:F3} full_per_sec={full.Count / full.Elapsed:F1}"));
Console.WriteLine(string.Create(inv, $"dkim_checks={dkimOnly.Count} dkim_seconds={dkimOnly.Elapsed:F3} dkim_per_sec={dkimOnly.Count / dkimOnly.Elapsed:F1}"));
Console.WriteLine(string.Create(inv, $"dns_queries_during_measurement={server.TotalQueries - queriesAfterWarmup}"));
return dmarcPass == raw.Length ? 0 : 1;
