using System.Diagnostics;
using System.Globalization;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Storage.Embedded;

// IMAP gateway benchmark helper (used by bench/imap-vs-dovecot.sh):
//   generate <dir> <count>                      write <count> .eml files (the same mailbox for both servers)
//   import <dataDir> <emlDir> <user> [<otherUser> <n>]
//                                               import the .eml files into the data directory of `mail` (SQLite
//                                               mailbox index + one file per message, as delivery writes them; the
//                                               first <n> also for <otherUser>) and make the domain local. The users'
//                                               passwords are set with `mail user add ... --password-hash`.
//   measure <label> <port> <user> <pw> <bodies> time login, SELECT, FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), <bodies> full bodies
//   measure-login <label> <port> <user> <pw>    time connect+login only
return args.FirstOrDefault() switch
{
    "generate" => Generate(args[1], int.Parse(args[2], CultureInfo.InvariantCulture)),
    "import" => await ImportAsync(args[1], args[2], args[3], args.Length > 5 ? args[4] : null, args.Length > 5 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 0),
    "measure" => await MeasureAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args[4], int.Parse(args[5], CultureInfo.InvariantCulture)),
    "measure-login" => await MeasureLoginAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args[4]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: ImapBench generate <dir> <count> | import <dataDir> <emlDir> <user> [<otherUser> <n>] | measure <label> <port> <user> <pw> <bodies> | measure-login <label> <port> <user> <pw>");
    return 2;
}

static int Generate(string dir, int count)
{
    Directory.CreateDirectory(dir);
    var rng = new Random(42); // fixed seed: the same mailbox every run
    var words = "alpha beta gamma delta invoice meeting report project budget review schedule update lunch travel quarterly results draft".Split(' ');
    for (var i = 1; i <= count; i++)
    {
        var sb = new StringBuilder();
        var date = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(i * 37);
        sb.Append(CultureInfo.InvariantCulture, $"Return-Path: <sender{i % 97}@example.org>\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"From: Sender {i % 97} <sender{i % 97}@example.org>\r\n");
        sb.Append("To: Bench User <bench@example.test>\r\n");
        if (i % 3 == 0) sb.Append(CultureInfo.InvariantCulture, $"Cc: team{i % 5}@example.org, boss@example.org\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Subject: {words[rng.Next(words.Length)]} {words[rng.Next(words.Length)]} #{i}\r\n");
        sb.Append("Date: ").Append(date.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture)).Append("\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Message-ID: <bench-{i}@example.org>\r\n");
        sb.Append("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
        // Mostly small messages with a tail of larger ones, like a real inbox.
        var lines = i % 50 == 0 ? 2000 : 10 + rng.Next(150);
        for (var l = 0; l < lines; l++)
        {
            for (var w = 0; w < 10; w++) sb.Append(words[rng.Next(words.Length)]).Append(' ');
            sb.Append("\r\n");
        }
        File.WriteAllText(Path.Combine(dir, $"{i:D6}.eml"), sb.ToString());
    }
    Console.WriteLine($"generated {count} messages in {dir}");
    return 0;
}

static async Task<int> ImportAsync(string dataDir, string emlDir, string user, string? otherUser, int otherCount)
{
    // The layout of `mail --data DIR` (edge/Mail.Host DataLayout): mail.db and messages/.
    Directory.CreateDirectory(dataDir);
    var db = Path.Combine(dataDir, "mail.db");
    var state = new SqliteStateStore(db);
    var directory = new MailDirectory(state);
    var domain = user[(user.IndexOf('@') + 1)..];
    if (!await directory.IsLocalDomainAsync(domain)) await directory.AddDomainAsync(domain);
    var mailboxes = new SqliteMailboxStore(db);
    var messages = new FileMessageStore(Path.Combine(dataDir, "messages"));
    var files = Directory.GetFiles(emlDir, "*.eml").Order(StringComparer.Ordinal).ToArray();
    await ImportUserAsync(user, files);
    if (otherUser is not null) await ImportUserAsync(otherUser, files.Take(otherCount));
    return 0;

    async Task ImportUserAsync(string owner, IEnumerable<string> eml)
    {
        await mailboxes.EnsureUserMailboxesAsync(owner);
        var inbox = await mailboxes.GetMailboxAsync(owner, "INBOX");
        if (inbox!.MessageCount > 0) return;
        var sw = Stopwatch.StartNew();
        foreach (var file in eml)
        {
            var id = owner[..owner.IndexOf('@')] + "-" + Path.GetFileNameWithoutExtension(file);
            var bytes = await File.ReadAllBytesAsync(file);
            await using (var w = await messages.CreateAsync(id))
            {
                await w.WriteAsync(bytes);
                await w.CommitAsync();
            }
            await mailboxes.AppendAsync(owner, "INBOX", new NewMessage(id, bytes.Length, File.GetLastWriteTimeUtc(file), [], id));
        }
        Console.WriteLine($"imported {owner} into gateway stores in {sw.Elapsed.TotalSeconds:F1} s");
    }
}

static async Task<int> MeasureLoginAsync(string label, int port, string user, string password)
{
    using var client = new ImapClient { Timeout = 600_000 };
    var sw = Stopwatch.StartNew();
    await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
    await client.AuthenticateAsync(user, password);
    var ms = sw.Elapsed.TotalMilliseconds;
    await client.DisconnectAsync(true);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}\tconnect+login\t{ms:F1}"));
    return 0;
}

static async Task<int> MeasureAsync(string label, int port, string user, string password, int bodies)
{
    var results = new List<(string Step, double Ms)>();
    using var client = new ImapClient { Timeout = 600_000 };
    var sw = Stopwatch.StartNew();
    await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
    await client.AuthenticateAsync(user, password);
    results.Add(("connect+login", sw.Elapsed.TotalMilliseconds));

    sw.Restart();
    await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
    results.Add(($"SELECT ({client.Inbox.Count} messages)", sw.Elapsed.TotalMilliseconds));

    sw.Restart();
    var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.Size | MessageSummaryItems.Envelope);
    results.Add(("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)", sw.Elapsed.TotalMilliseconds));
    if (summaries.Count != client.Inbox.Count || summaries.Any(s => s.Envelope?.Subject is null))
        throw new InvalidOperationException($"{label}: FETCH returned {summaries.Count} summaries for {client.Inbox.Count} messages");

    sw.Restart();
    long octets = 0;
    foreach (var s in summaries.Take(bodies))
    {
        using var stream = await client.Inbox.GetStreamAsync(s.UniqueId, "");
        var buffer = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0) octets += n;
    }
    results.Add(($"{Math.Min(bodies, summaries.Count)} full bodies (UID FETCH BODY.PEEK[] each, {octets / 1024} KiB)", sw.Elapsed.TotalMilliseconds));
    await client.DisconnectAsync(true);

    foreach (var (step, ms) in results)
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}\t{step}\t{ms:F1}"));
    return 0;
}
