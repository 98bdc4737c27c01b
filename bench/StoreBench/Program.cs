using System.Diagnostics;
using System.Globalization;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Tracing;
using Mail.Storage.Embedded;

// The embedded stores' share of a delivery, without the checks and without SMTP: PAR (8, the worker's parallel
// deliveries) loops each doing, per message, a state read (as the edge's greylist and rate lookups), a mailbox append
// with its delivery key and the message trail's append, into one mail.db on a real disk. Prints the process CPU time
// per message (the figure that holds on a loaded machine), messages per second and bytes allocated per message.
// Usage: StoreBench [messages=3000] [skip=get,append,trail]. For an A/B, copy the output directory and put another
// build's Mail.Core.dll and Mail.Storage.Embedded.dll into the copy (the public API it uses is unchanged).
var n = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3000;
var skip = args.Length > 1 ? args[1] : "";
var parallel = int.Parse(Environment.GetEnvironmentVariable("PAR") ?? "8", CultureInfo.InvariantCulture);
var dir = Path.Combine(Path.GetTempPath(), "storebench-" + Guid.NewGuid().ToString("N"));
var db = Path.Combine(dir, "mail.db");
var mailboxes = new SqliteMailboxStore(db);
var state = new SqliteStateStore(db);
var trail = new MessageTrail(state);
for (var u = 0; u < parallel; u++) await mailboxes.EnsureUserMailboxesAsync($"u{u}@example.org");
await state.PutAsync("greylist", "k", "v");

async Task RunAsync(int from, int count) => await Task.WhenAll(Enumerable.Range(0, parallel).Select(async w =>
{
    var user = $"u{w}@example.org";
    for (var i = from + w; i < from + count; i += parallel)
    {
        var id = i.ToString(CultureInfo.InvariantCulture);
        if (!skip.Contains("get", StringComparison.Ordinal)) await state.GetAsync("greylist", "k");
        if (!skip.Contains("append", StringComparison.Ordinal))
            await mailboxes.AppendAsync(user, "INBOX", new NewMessage("c" + id, 4096, DateTimeOffset.UtcNow, [], "key" + id));
        if (!skip.Contains("trail", StringComparison.Ordinal))
        {
            var envelope = new Envelope
            {
                QueueId = "q" + id, MessageRef = "m" + id, ReceivedAt = DateTimeOffset.UtcNow, MailFrom = "a@sender.example",
                Client = new ClientInfo { Address = "127.0.0.1", Helo = "client.example" }, Recipients = [new Recipient { Address = user }],
            };
            await trail.AppendAsync(envelope, [new TraceEvent(DateTimeOffset.UtcNow, TraceStep.Delivered, "delivered to INBOX", user)]);
        }
    }
}));

await RunAsync(0, n / 5); // warm-up: JIT, caches, the database's first pages
var allocated = GC.GetTotalAllocatedBytes(precise: true);
var cpu = Environment.CpuUsage.TotalTime;
var clock = Stopwatch.StartNew();
await RunAsync(n, n);
var seconds = clock.Elapsed.TotalSeconds;
var cpuUs = (Environment.CpuUsage.TotalTime - cpu).TotalMicroseconds / n;
var bytes = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / n;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"messages={n} parallel={parallel} cpu_us_per_message={cpuUs:F1} per_second={n / seconds:F0} allocated_bytes_per_message={bytes}"));
Directory.Delete(dir, recursive: true);
return 0;
