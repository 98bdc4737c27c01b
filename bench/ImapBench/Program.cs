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
//                                               mailbox index + the messages appended to mailbox-messages/ segments,
//                                               as delivery stores them; the first <n> also for <otherUser>) and make
//                                               the domain local. The users' passwords are set with `mail user add
//                                               ... --password-hash`.
//   measure <label> <port> <user> <pw> <bodies> time login, SELECT, FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), <bodies> full bodies
//   measure-login <label> <port> <user> <pw>    time connect+login only
//   measure-wire <label> <port> <user> <pw> <bodies>
//                                               the same steps with a bare socket client that only finds the end of each
//                                               response (literals skipped, nothing parsed): the server's time, without
//                                               MailKit's parsing, which is most of FETCH 1:* and varies between runs
//   replay <label> <session> <fetch> <chunk>    MailKit's login, EXAMINE and FETCH 1:* against a listener in this
//                                               process that replays captured responses (<session>.greeting and
//                                               <session>.A1 ... A7 for AUTHENTICATE, NAMESPACE, LIST, LIST
//                                               (SPECIAL-USE), EXAMINE, FETCH, LOGOUT; the FETCH from <fetch>.A6) in
//                                               <chunk>-octet writes: MailKit's cost of one server's bytes, no server
//                                               running. Prints the FETCH's wall and CPU ms (bench/README.md, imapf).
return args.FirstOrDefault() switch
{
    "generate" => Generate(args[1], int.Parse(args[2], CultureInfo.InvariantCulture)),
    "import" => await ImportAsync(args[1], args[2], args[3], args.Length > 5 ? args[4] : null, args.Length > 5 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 0),
    "measure" => await MeasureAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args[4], int.Parse(args[5], CultureInfo.InvariantCulture)),
    "measure-wire" => await MeasureWireAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args[4], int.Parse(args[5], CultureInfo.InvariantCulture)),
    "measure-login" => await MeasureLoginAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args[4]),
    "replay" => await ReplayAsync(args[1], args[2], args[3], int.Parse(args[4], CultureInfo.InvariantCulture)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: ImapBench generate <dir> <count> | import <dataDir> <emlDir> <user> [<otherUser> <n>] | measure <label> <port> <user> <pw> <bodies> | measure-login <label> <port> <user> <pw> | measure-wire <label> <port> <user> <pw> <bodies> | replay <label> <session> <fetch> <chunk>");
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
    // Where `mail serve` delivers (edge/Mail.Host DataLayout: the copies in mailbox-messages/ segments), so the
    // gateway reads the bench's messages as it reads delivered ones.
    using var messages = new SegmentMessageStore(Path.Combine(dataDir, "mailbox-messages"));
    var files = Directory.GetFiles(emlDir, "*.eml").Order(StringComparer.Ordinal).ToArray();
    await ImportUserAsync(user, files);
    if (otherUser is not null) await ImportUserAsync(otherUser, files.Take(otherCount).ToArray());
    await messages.Indexing;
    return 0;

    async Task ImportUserAsync(string owner, string[] eml)
    {
        await mailboxes.EnsureUserMailboxesAsync(owner);
        var inbox = await mailboxes.GetMailboxAsync(owner, "INBOX");
        if (inbox!.MessageCount > 0) return;
        var sw = Stopwatch.StartNew();
        string Id(string file) => owner[..owner.IndexOf('@')] + "-" + Path.GetFileNameWithoutExtension(file);
        // Written in parallel, as the worker's deliveries are (their syncs share group commits); indexed in order.
        await Parallel.ForEachAsync(eml, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (file, ct) =>
        {
            var bytes = await File.ReadAllBytesAsync(file, ct);
            await using var w = await messages.CreateAsync(Id(file), ct);
            await w.WriteAsync(bytes, ct);
            await w.CommitAsync(ct);
        });
        foreach (var file in eml)
            await mailboxes.AppendAsync(owner, "INBOX", new NewMessage(Id(file), new FileInfo(file).Length, File.GetLastWriteTimeUtc(file), [], Id(file)));
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

static async Task<int> MeasureWireAsync(string label, int port, string user, string password, int bodies)
{
    // The client's own first run (JIT, first socket) would be counted in the server's login: run every step once
    // against a stand-in server inside this process first.
    using (var standIn = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
    {
        standIn.Start();
        var serve = StandInAsync(standIn);
        await MeasureWireStepsAsync(((System.Net.IPEndPoint)standIn.LocalEndpoint).Port, "u", "p", 1);
        await serve;
    }
    foreach (var (step, ms) in await MeasureWireStepsAsync(port, user, password, bodies))
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}\t{step}\t{ms:F1}"));
    return 0;
}

static async Task StandInAsync(System.Net.Sockets.TcpListener listener)
{
    using var client = await listener.AcceptTcpClientAsync();
    var stream = client.GetStream();
    using var reader = new StreamReader(stream, Encoding.ASCII);
    await stream.WriteAsync("* OK stand-in\r\n"u8.ToArray());
    while (await reader.ReadLineAsync() is { } line)
    {
        var tag = line[..line.IndexOf(' ', StringComparison.Ordinal)];
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"* 1 EXISTS\r\n* 1 FETCH (UID 1 BODY[] {{5}}\r\nhello)\r\n{tag} OK done\r\n"));
        if (line.EndsWith("LOGOUT", StringComparison.Ordinal)) break;
    }
}

static async Task<int> ReplayAsync(string label, string session, string fetch, int chunk)
{
    using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    var serve = ReplayServeAsync(listener, session, await File.ReadAllBytesAsync(fetch + ".A6"), chunk);
    using var client = new ImapClient { Timeout = 600_000 };
    await client.ConnectAsync("127.0.0.1", ((System.Net.IPEndPoint)listener.LocalEndpoint).Port, SecureSocketOptions.None);
    await client.AuthenticateAsync("replay", "replay"); // the captured reply is replayed whatever is sent
    await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var sw = Stopwatch.StartNew();
    var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.Size | MessageSummaryItems.Envelope);
    var wall = sw.Elapsed.TotalMilliseconds;
    var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
    if (summaries.Count != client.Inbox.Count) throw new InvalidOperationException($"{label}: {summaries.Count} summaries for {client.Inbox.Count} messages");
    await client.DisconnectAsync(true);
    await serve;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}\tFETCH 1:* wall\t{wall:F1}\tcpu\t{cpuMs:F1}"));
    return 0;
}

static async Task ReplayServeAsync(System.Net.Sockets.TcpListener listener, string session, byte[] fetch, int chunk)
{
    using var client = await listener.AcceptTcpClientAsync();
    client.NoDelay = true;
    var stream = client.GetStream();
    using var reader = new StreamReader(stream, Encoding.ASCII);
    await stream.WriteAsync(await File.ReadAllBytesAsync(session + ".greeting"));
    while (await reader.ReadLineAsync() is { } line)
    {
        var tag = line[..line.IndexOf(' ', StringComparison.Ordinal)];
        var command = line[(tag.Length + 1)..];
        string? step = command.StartsWith("AUTHENTICATE", StringComparison.Ordinal) ? "A1"
            : command.StartsWith("NAMESPACE", StringComparison.Ordinal) ? "A2"
            : command.StartsWith("LIST (SPECIAL-USE)", StringComparison.Ordinal) ? "A4"
            : command.StartsWith("LIST", StringComparison.Ordinal) ? "A3"
            : command.StartsWith("EXAMINE", StringComparison.Ordinal) ? "A5"
            : command.StartsWith("FETCH", StringComparison.Ordinal) ? "A6"
            : command.StartsWith("LOGOUT", StringComparison.Ordinal) ? "A7" : null;
        if (step is null)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{tag} BAD not in the capture\r\n"));
            continue;
        }
        var reply = step == "A6" ? fetch : await File.ReadAllBytesAsync($"{session}.{step}");
        // The captured tagged line carries the capture's tag (A1 ... A7): the client's own goes in its place.
        var lastBreak = reply.AsSpan(0, reply.Length - 2).LastIndexOf("\r\n"u8);
        var tagged = lastBreak < 0 ? 0 : lastBreak + 2;
        var bytes = reply[..tagged].Concat(Encoding.ASCII.GetBytes(tag)).Concat(reply[(tagged + step.Length)..]).ToArray();
        for (var o = 0; o < bytes.Length; o += chunk) await stream.WriteAsync(bytes.AsMemory(o, Math.Min(chunk, bytes.Length - o)));
        if (step == "A7") break;
    }
}

static async Task<List<(string Step, double Ms)>> MeasureWireStepsAsync(int port, string user, string password, int bodies)
{
    var results = new List<(string Step, double Ms)>();
    var sw = Stopwatch.StartNew();
    using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
    await socket.ConnectAsync("127.0.0.1", port);
    var wire = new Wire(socket);
    await wire.ReadGreetingAsync();
    var login = await wire.CommandAsync($"LOGIN \"{user}\" \"{password}\"");
    if (!login.StartsWith("OK", StringComparison.Ordinal)) throw new InvalidOperationException($"LOGIN {login}");
    results.Add(("connect+login", sw.Elapsed.TotalMilliseconds));

    sw.Restart();
    await wire.CommandAsync("EXAMINE INBOX");
    var exists = wire.Exists;
    results.Add(($"SELECT ({exists} messages)", sw.Elapsed.TotalMilliseconds));

    sw.Restart();
    await wire.CommandAsync("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)");
    results.Add(("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)", sw.Elapsed.TotalMilliseconds));
    if (wire.Uids.Count != exists) throw new InvalidOperationException($"FETCH returned {wire.Uids.Count} UIDs for {exists} messages");

    var uids = wire.Uids.Take(bodies).ToList();
    sw.Restart();
    long octets = 0;
    foreach (var uid in uids)
    {
        await wire.CommandAsync(string.Create(CultureInfo.InvariantCulture, $"UID FETCH {uid} BODY.PEEK[]"));
        octets += wire.LiteralOctets;
    }
    results.Add(($"{uids.Count} full bodies (UID FETCH BODY.PEEK[] each, {octets / 1024} KiB)", sw.Elapsed.TotalMilliseconds));
    await wire.CommandAsync("LOGOUT");
    return results;
}

/// <summary>The least an IMAP client can do: send a tagged command, read lines and skip literals until the tagged
/// reply. It notes EXISTS, UIDs of FETCH responses and the octets of literals, and nothing else.</summary>
sealed class Wire(System.Net.Sockets.Socket socket)
{
    private readonly byte[] _buffer = new byte[256 * 1024];
    private int _start, _end, _tag;

    public int Exists { get; private set; }
    public List<long> Uids { get; } = [];
    public long LiteralOctets { get; private set; }

    public async Task ReadGreetingAsync() => await ReadLineAsync();

    /// <summary>Sends the command and returns the text after the tag of its reply ("OK ...").</summary>
    public async Task<string> CommandAsync(string command)
    {
        var tag = "w" + (++_tag).ToString(CultureInfo.InvariantCulture);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"{tag} {command}\r\n"));
        LiteralOctets = 0;
        while (true)
        {
            var line = await ReadLineAsync();
            if (line.StartsWith(tag + " ", StringComparison.Ordinal)) return line[(tag.Length + 1)..];
            if (line.StartsWith("* ", StringComparison.Ordinal) && line.EndsWith(" EXISTS", StringComparison.Ordinal))
                Exists = int.Parse(line.AsSpan(2, line.Length - 9), CultureInfo.InvariantCulture);
            if (command.StartsWith("FETCH", StringComparison.Ordinal) && line.IndexOf("UID ", StringComparison.Ordinal) is var u and >= 0)
            {
                var digits = line.AsSpan(u + 4);
                var n = 0;
                while (n < digits.Length && char.IsAsciiDigit(digits[n])) n++;
                Uids.Add(long.Parse(digits[..n], CultureInfo.InvariantCulture));
            }
        }
    }

    /// <summary>One response line; a literal {n} at its end is skipped and the line goes on after it.</summary>
    private async Task<string> ReadLineAsync()
    {
        var line = new StringBuilder();
        while (true)
        {
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf < 0)
            {
                if (_start == _end) _start = _end = 0;
                else if (_end == _buffer.Length)
                {
                    line.Append(Encoding.ASCII.GetString(_buffer, _start, _end - _start));
                    _start = _end = 0;
                }
                var n = await socket.ReceiveAsync(_buffer.AsMemory(_end));
                if (n == 0) throw new IOException("connection closed");
                _end += n;
                continue;
            }
            line.Append(Encoding.ASCII.GetString(_buffer, _start, lf - _start).TrimEnd('\r'));
            _start = lf + 1;
            var text = line.ToString();
            if (!text.EndsWith('}') || text.LastIndexOf('{') is not (var open and >= 0)) return text;
            var size = long.Parse(text.AsSpan(open + 1, text.Length - open - 2).TrimEnd('+'), CultureInfo.InvariantCulture);
            LiteralOctets += size;
            while (size > 0)
            {
                if (_start == _end)
                {
                    _start = 0;
                    _end = await socket.ReceiveAsync(_buffer.AsMemory());
                    if (_end == 0) throw new IOException("connection closed");
                }
                var take = (int)Math.Min(size, _end - _start);
                _start += take;
                size -= take;
            }
            line.Clear().Append(text.AsSpan(0, open)).Append("{literal}");
        }
    }
}
