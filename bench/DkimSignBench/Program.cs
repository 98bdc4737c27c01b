using System.Diagnostics;
using System.Globalization;
using System.Text;
using Mail.Auth.Dkim.Signing;
using Mail.Core.Accounts;
using Mail.Storage.Embedded;

// DKIM signing cost per message, one thread: the outbound stage's DkimMessageSigner over the embedded key store
// (SQLite rows + 0600 PEM files), for an RSA-2048 key, an Ed25519 key, and both (the default). With THREADS above 1,
// that many threads sign with the same keys at once, as the outbound stage's loops do.
// Usage: DkimSignBench [seconds-per-case] [message-bytes] [threads]
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 3;
var size = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4096;
var threads = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1;

var body = new StringBuilder();
while (body.Length < size - 300) body.Append("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n");
var dir = Directory.CreateTempSubdirectory("dkim-sign-bench-").FullName;
try
{
    var state = new SqliteStateStore(Path.Combine(dir, "mail.db"));
    var directory = new MailDirectory(state);
    var keys = new DkimKeyStore(state, new FileSecretStore(dir), directory, TimeSpan.FromDays(7));
    Console.WriteLine($"{"keys",-10} {"messages",9} {"µs/message",11} {"CPU µs/msg",11}   ({size} bytes, {seconds} s each, {threads} thread(s))");
    foreach (var (name, algorithm) in new (string, DkimKeyAlgorithm?)[] { ("rsa", DkimKeyAlgorithm.Rsa), ("ed25519", DkimKeyAlgorithm.Ed25519), ("both", null) })
    {
        var domain = name + ".bench.test";
        await directory.AddDomainAsync(domain);
        await keys.AddAsync(domain, algorithm: algorithm);
        var message = Encoding.ASCII.GetBytes($"From: Sender <sender@{domain}>\r\nTo: rcpt@example.net\r\nSubject: bench\r\n" +
            $"Date: Fri, 4 Dec 2026 12:00:00 +0000\r\nMessage-ID: <bench@{domain}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{body}");
        var signer = new DkimMessageSigner(keys);
        for (var i = 0; i < 20; i++) await signer.SignAsync(new MemoryStream(message, writable: false), default); // warm-up
        var count = 0;
        // CPU time as well as elapsed: on a shared machine the elapsed time counts other processes' turns too.
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, threads).Select(_ => Task.Run(async () =>
        {
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                if ((await signer.SignAsync(new MemoryStream(message, writable: false), default)).Length == 0) throw new InvalidOperationException("nothing signed");
                Interlocked.Increment(ref count);
            }
        })));
        var perMessage = clock.Elapsed.TotalMicroseconds / count;
        var cpuPerMessage = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / count;
        // The key lookup alone (state store row list + cached private keys), to tell storage from cryptography.
        var lookups = 0;
        clock.Restart();
        while (clock.Elapsed.TotalSeconds < seconds / 3)
        {
            await keys.GetSigningKeysAsync(domain);
            lookups++;
        }
        Console.WriteLine($"{name,-10} {count,9} {perMessage,11:F0} {cpuPerMessage,11:F0}   key lookup {clock.Elapsed.TotalMicroseconds / lookups:F0} µs");
    }
}
finally
{
    Directory.Delete(dir, recursive: true);
}
