// SMTP → mailbox throughput, cloud mode (Azure adapters on Azurite, inbound function driven as the Functions host
// drives it) against embedded mode (files + spool + SQLite, LocalWorker), in one run with the same load.
// usage: CloudThroughput --azurite "<connection string>" [--messages 300] [--sessions 4] [--size 4096] [--out DIR]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Functions;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Pipeline.Local;
using Mail.Smtp;
using Mail.Storage.Azure;
using Mail.Storage.Embedded;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;

var settings = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal) && x.i + 1 < args.Length)
    .ToDictionary(x => x.a[2..], x => args[x.i + 1]);
var azurite = settings.GetValueOrDefault("azurite") ?? throw new ArgumentException("--azurite <connection string> is required");
var messages = int.Parse(settings.GetValueOrDefault("messages") ?? "300", CultureInfo.InvariantCulture);
var sessions = int.Parse(settings.GetValueOrDefault("sessions") ?? "4", CultureInfo.InvariantCulture);
var size = int.Parse(settings.GetValueOrDefault("size") ?? "4096", CultureInfo.InvariantCulture);
var outDir = settings.GetValueOrDefault("out") ?? ".";
var deadline = TimeSpan.FromMinutes(10);
var modes = (settings.GetValueOrDefault("modes") ?? "embedded,cloud").Split(',');
var acceptOnly = settings.GetValueOrDefault("accept-only") == "true";

var results = new List<Result>();
foreach (var mode in modes)
{
    Console.WriteLine($"== {mode}: warm-up (JIT, connection pools; not counted)");
    await RunAsync(mode, Math.Min(messages, 20));
    Console.WriteLine($"== {mode}: {messages} messages of {size} bytes over {sessions} session(s)");
    var r = await RunAsync(mode, messages);
    results.Add(r);
    Console.WriteLine($"   accepted {r.AcceptedPerSecond:F1} msg/s, delivered to mailbox {r.DeliveredPerSecond:F1} msg/s");
}
Directory.CreateDirectory(outDir);
await File.WriteAllTextAsync(Path.Combine(outDir, "cloud-throughput.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
var md = new System.Text.StringBuilder();
md.AppendLine("# SMTP → mailbox throughput: cloud mode (Azurite) vs embedded");
md.AppendLine();
md.AppendLine($"{messages} messages of {size} bytes, {sessions} parallel SMTP session(s), one machine ({Environment.ProcessorCount} cores), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average at the end {LoadAverage()} (other work on the machine skews both modes).");
md.AppendLine("Cloud: SMTP edge → Blob + Storage Queue → InboundFunction (driven like the Functions host: batches of 16, 8 at once) → Table mailbox + Blob copy, all on Azurite in memory.");
md.AppendLine("Embedded: SMTP edge → files + spool → LocalWorker (4) → SQLite mailbox + file copy, on /var/tmp.");
md.AppendLine("Azurite is an emulator in one Node.js process: absolute cloud numbers say little about Azure; compare shapes, not values.");
md.AppendLine();
md.AppendLine("| mode | accepted msg/s | delivered to mailbox msg/s | total seconds |");
md.AppendLine("|---|---:|---:|---:|");
foreach (var r in results) md.AppendLine($"| {r.Mode} | {r.AcceptedPerSecond:F1} | {r.DeliveredPerSecond:F1} | {r.TotalSeconds:F1} |");
await File.WriteAllTextAsync(Path.Combine(outDir, "cloud-throughput.md"), md.ToString());
return 0;

async Task<Result> RunAsync(string mode, int messages)
{
    var work = Path.Combine("/var/tmp", "cloud-bench-" + Guid.NewGuid().ToString("N"));
    Directory.CreateDirectory(work);
    var unique = "b" + Guid.NewGuid().ToString("N")[..10];
    IMessageStore store;
    IMessageQueue inbound, outbound;
    IMailboxStore mailboxes;
    IStateStore state;
    AzureAdapters? azure = null;
    if (mode == "cloud")
    {
        azure = AzureAdapters.Create(new AzureStorageOptions
        {
            ConnectionString = azurite,
            MessageContainer = unique + "msgs",
            InboundQueue = unique + "in",
            OutboundQueue = unique + "out",
            MailboxTable = unique + "mbx",
            StateTable = unique + "state",
        });
        (store, inbound, outbound, mailboxes, state) = (azure.MessageStore, azure.InboundQueue, azure.OutboundQueue, azure.MailboxStore, azure.StateStore);
    }
    else
    {
        store = new FileMessageStore(Path.Combine(work, "messages"));
        inbound = new SpoolQueue(Path.Combine(work, "spool-in"), "inbound");
        outbound = new SpoolQueue(Path.Combine(work, "spool-out"), "outbound");
        mailboxes = new SqliteMailboxStore(Path.Combine(work, "mailboxes.db"));
        state = new SqliteStateStore(Path.Combine(work, "state.db"));
    }
    var directory = new MailDirectory(state, passwordIterations: 1000);
    await directory.AddDomainAsync("bench.test");
    await directory.SetUserAsync("rcpt@bench.test", "secret");
    await mailboxes.EnsureUserMailboxesAsync("rcpt@bench.test");
    var stage = new InboundStage(store, mailboxes, directory, outbound, []);

    await using var server = new SmtpServer(
        new SmtpServerOptions { HostName = "mx.bench.test", Listeners = [new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:0" }] },
        new SmtpServices { MessageStore = store, InboundQueue = inbound, Directory = directory });
    await server.StartAsync();
    var mx = server.BoundEndpoints["mx"];

    using var stop = new CancellationTokenSource(deadline);
    Task consumer = acceptOnly ? Task.CompletedTask : mode == "cloud"
        ? HostLoopAsync((StorageQueueMessageQueue)inbound, (StorageQueueMessageQueue)outbound, stage, stop.Token)
        : new LocalWorker(inbound, stage, new LocalWorkerOptions { Concurrency = 4, PollInterval = TimeSpan.FromMilliseconds(20) }).RunAsync(stop.Token);

    var body = new string('x', Math.Max(0, size - 300));
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, sessions).Select(async s =>
    {
        using var client = new SmtpClient();
        await client.ConnectAsync(mx.Address.ToString(), mx.Port, MailKit.Security.SecureSocketOptions.None, stop.Token);
        for (var i = s; i < messages; i += sessions)
        {
            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("sender@example.net"));
            m.To.Add(MailboxAddress.Parse("rcpt@bench.test"));
            m.Subject = $"bench {i}";
            m.Body = new TextPart("plain") { Text = body };
            await client.SendAsync(m, stop.Token);
        }
        await client.DisconnectAsync(true, stop.Token);
    }));
    var accepted = sw.Elapsed;
    Console.WriteLine($"   all {messages} accepted after {accepted.TotalSeconds:F1} s");
    if (acceptOnly)
    {
        await stop.CancelAsync();
        return new Result(mode, messages, size, sessions, messages / accepted.TotalSeconds, 0, accepted.TotalSeconds);
    }
    var lastReport = sw.Elapsed;
    int count;
    while ((count = (await mailboxes.GetMailboxAsync("rcpt@bench.test", "INBOX", stop.Token))!.MessageCount) < messages)
    {
        if (sw.Elapsed - lastReport > TimeSpan.FromSeconds(5))
        {
            Console.WriteLine($"   {count} delivered so far");
            lastReport = sw.Elapsed;
        }
        await Task.Delay(50, stop.Token);
    }
    var delivered = sw.Elapsed;
    await stop.CancelAsync();
    try
    {
        await consumer;
    }
    catch (OperationCanceledException)
    {
    }
    if (azure is not null) await azure.DisposeAsync();
    try
    {
        Directory.Delete(work, recursive: true);
    }
    catch (IOException)
    {
    }
    return new Result(mode, messages, size, sessions, messages / accepted.TotalSeconds, messages / delivered.TotalSeconds, delivered.TotalSeconds);
}

// The Functions host's queue loop, reduced: receive up to 16, run up to 8 at once, delete on success.
static async Task HostLoopAsync(StorageQueueMessageQueue inbound, StorageQueueMessageQueue outbound, InboundStage stage, CancellationToken stop)
{
    var runner = new InboundRunner(stage, new FunctionsOptions(), NullLogger<InboundRunner>.Instance);
    var function = new InboundFunction(runner, new FunctionQueues(inbound, outbound), NullLogger<InboundFunction>.Instance);
    using var gate = new SemaphoreSlim(8);
    var running = new List<Task>();
    await inbound.Queue.CreateIfNotExistsAsync(cancellationToken: stop); // infra creates it in Azure
    while (!stop.IsCancellationRequested)
    {
        Azure.Storage.Queues.Models.QueueMessage[] batch;
        try
        {
            batch = (await inbound.Queue.ReceiveMessagesAsync(16, TimeSpan.FromSeconds(60), stop)).Value;
        }
        catch (OperationCanceledException)
        {
            break;
        }
        if (batch.Length == 0)
        {
            try
            {
                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            continue;
        }
        foreach (var m in batch)
        {
            await gate.WaitAsync(CancellationToken.None);
            running.Add(Task.Run(async () =>
            {
                try
                {
                    await function.Run(m, CancellationToken.None);
                    await inbound.Queue.DeleteMessageAsync(m.MessageId, m.PopReceipt, CancellationToken.None);
                }
                catch (Exception e)
                {
                    // As the host: the message reappears after its visibility timeout and is retried.
                    Console.Error.WriteLine($"   function failed (will be retried): {e.GetType().Name}: {e.Message}");
                }
                finally
                {
                    gate.Release();
                }
            }, CancellationToken.None));
        }
        running.RemoveAll(t => t.IsCompleted);
    }
    await Task.WhenAll(running);
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

internal sealed record Result(string Mode, int Messages, int Size, int Sessions, double AcceptedPerSecond, double DeliveredPerSecond, double TotalSeconds);
