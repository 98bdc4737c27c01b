using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Accounts;
using Mail.Core.InboundChecks;
using Mail.Defences.DnsChecks;
using Mail.Defences.Greylisting;
using Mail.Defences.Restrictions;
using Mail.Defences.SmtpEdge;
using Mail.Dns;
using Mail.Core.SmtpPolicy;
using Mail.Smtp;
using Mail.Storage.Embedded;
using Mail.Testing.Dns;
using MailKit.Net.Smtp;
using MimeKit;

namespace Mail.Defences.Tests;

/// <summary>A line-oriented SMTP client on a real socket, optionally from another loopback source address (127.0.0.2 is
/// the RFC 5782 "listed" test address).</summary>
internal sealed class LineClient : IDisposable
{
    private readonly TcpClient _tcp;
    private readonly StreamReader _reader;
    private readonly Stream _stream;

    public LineClient(IPEndPoint server, IPAddress? from = null)
    {
        _tcp = from is null ? new TcpClient(AddressFamily.InterNetwork) : new TcpClient(new IPEndPoint(from, 0));
        _tcp.ReceiveTimeout = 10_000;
        _tcp.Connect(server);
        _stream = _tcp.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
    }

    /// <summary>The last line of the next reply ("250 2.1.0 Ok").</summary>
    public async Task<string> ReadAsync()
    {
        while (true)
        {
            var line = await _reader.ReadLineAsync() ?? throw new IOException("connection closed");
            if (line.Length < 4 || line[3] != '-') return line;
        }
    }

    public async Task<string> SendAsync(string command)
    {
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        return await ReadAsync();
    }

    /// <summary>Writes octets as given (several commands at once, to pipeline) without reading a reply.</summary>
    public async Task WriteAsync(string text) => await _stream.WriteAsync(Encoding.ASCII.GetBytes(text));

    public void Dispose() => _tcp.Dispose();
}

public sealed class SmtpRestrictionTests : IAsyncLifetime
{
    private TestDnsServer _dns = null!;
    private string _root = null!;
    private SqliteStateStore _state = null!;
    private MailDirectory _directory = null!;
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    public async Task InitializeAsync()
    {
        _dns = await TestDnsServer.StartAsync();
        _dns.Add("2.0.0.127.zen.test", DnsRecordType.A, "127.0.0.2");
        _dns.Add("2.0.0.127.zen.test", DnsRecordType.TXT, "listed for testing");
        _dns.Add("sender.test", DnsRecordType.MX, "10 mx.sender.test");
        _root = Directory.CreateTempSubdirectory("defences-smtp-").FullName;
        _state = new SqliteStateStore(Path.Combine(_root, "state.db"), _time);
        _directory = new MailDirectory(_state, passwordIterations: 1000);
        await _directory.AddDomainAsync("example.test");
        await _directory.SetUserAsync("alice@example.test", "secret");
    }

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<SmtpServer> StartAsync(Dictionary<string, string> settings, RestrictionPolicyOptions? policyOptions = null, ContentChecks.ContentChecks? endOfData = null,
        Mail.Spf.SpfChecker? spf = null, Func<TimeSpan, CancellationToken, Task>? sleep = null, string endpoint = "127.0.0.1:0")
    {
        var name = Guid.NewGuid().ToString("N");
        var store = new FileMessageStore(Path.Combine(_root, name, "messages"));
        var queue = new SpoolQueue(Path.Combine(_root, name, "spool"), "inbound");
        _lastQueue = queue;
        if (endOfData is not null) policyOptions = new RestrictionPolicyOptions { EndOfDataContentChecks = endOfData, MessageStore = store };
        var options = new RestrictionOptions
        {
            Dns = new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(3), Retries = 1 }),
            Greylist = new Greylist(_state, new GreylistOptions { AutoWhitelistAfter = 0 }, _time),
            AuthorizedDestinations = ["example.test"],
            MyNetworks = [],
            Sleep = sleep ?? ((d, ct) => Task.Delay(d, ct)),
        };
        var policy = new RestrictionPolicy(RestrictionSet.FromSettings(settings, options), policyOptions);
        var server = new SmtpServer(
            new SmtpServerOptions { HostName = "mx.example.test", Listeners = [new SmtpListenerOptions { Name = "mx", Endpoint = endpoint, Role = SmtpListenerRole.Mx }] },
            new SmtpServices
            {
                MessageStore = store,
                InboundQueue = queue,
                Directory = _directory,
                Policy = policy,
                Spf = spf,
            });
        await server.StartAsync();
        return server;
    }

    private static readonly IPAddress Listed = IPAddress.Parse("127.0.0.2");

    private SpoolQueue? _lastQueue;

    private async Task<List<Mail.Core.Model.Envelope>> QueuedAsync()
    {
        var list = new List<Mail.Core.Model.Envelope>();
        await foreach (var e in _lastQueue!.ListAsync()) list.Add(e.Envelope);
        return list;
    }

    private async Task<int> QueuedCountAsync()
    {
        var n = 0;
        await foreach (var _ in _lastQueue!.ListAsync()) n++;
        return n;
    }

    [Fact]
    public async Task Dnsbl_client_is_rejected_at_rcpt_with_delay_reject_and_others_pass()
    {
        await using var server = await StartAsync(new() { ["smtpd_client_restrictions"] = "reject_rbl_client zen.test" });
        using (var listed = new LineClient(server.BoundEndpoints["mx"], Listed))
        {
            Assert.StartsWith("220", await listed.ReadAsync());
            Assert.StartsWith("250", await listed.SendAsync("EHLO mx.sender.test"));
            Assert.StartsWith("250", await listed.SendAsync("MAIL FROM:<a@sender.test>"));
            Assert.Equal("554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.test; listed for testing", await listed.SendAsync("RCPT TO:<alice@example.test>"));
            // The client list's decision is kept for the session: the next recipient gets the same answer.
            Assert.StartsWith("554 5.7.1 Service unavailable", await listed.SendAsync("RCPT TO:<alice@example.test>"));
        }
        using var clean = new LineClient(server.BoundEndpoints["mx"]);
        await clean.ReadAsync();
        await clean.SendAsync("EHLO mx.sender.test");
        await clean.SendAsync("MAIL FROM:<a@sender.test>");
        Assert.StartsWith("250", await clean.SendAsync("RCPT TO:<alice@example.test>"));
        // The edge's own checks still apply after the restrictions said nothing.
        Assert.StartsWith("550 5.1.1", await clean.SendAsync("RCPT TO:<nobody@example.test>"));
        // Postfix's default smtpd_relay_restrictions end in defer_unauth_destination.
        Assert.Equal("450 4.7.1 <someone@elsewhere.test>: Relay access denied", await clean.SendAsync("RCPT TO:<someone@elsewhere.test>"));
    }

    [Fact]
    public async Task A_listed_IPv4_client_of_a_dual_stack_listener_is_looked_up_as_IPv4()
    {
        // [::] sees 127.0.0.2 as ::ffff:127.0.0.2; the DNSBL query must still be 2.0.0.127.zen.test.
        await using var server = await StartAsync(new() { ["smtpd_client_restrictions"] = "reject_rbl_client zen.test" }, endpoint: "[::]:0");
        using var listed = new LineClient(new IPEndPoint(IPAddress.Loopback, server.BoundEndpoints["mx"].Port), Listed);
        Assert.StartsWith("220", await listed.ReadAsync());
        Assert.StartsWith("250", await listed.SendAsync("EHLO mx.sender.test"));
        Assert.StartsWith("250", await listed.SendAsync("MAIL FROM:<a@sender.test>"));
        Assert.Equal("554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.test; listed for testing", await listed.SendAsync("RCPT TO:<alice@example.test>"));
    }

    [Fact]
    public async Task Without_delay_reject_the_helo_list_answers_at_ehlo()
    {
        var settings = new Dictionary<string, string> { ["smtpd_helo_restrictions"] = "reject_non_fqdn_helo_hostname" };
        await using var delayed = await StartAsync(settings);
        using (var c = new LineClient(delayed.BoundEndpoints["mx"]))
        {
            await c.ReadAsync();
            Assert.StartsWith("250", await c.SendAsync("EHLO localhost"));
            await c.SendAsync("MAIL FROM:<a@sender.test>");
            Assert.Equal("504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", await c.SendAsync("RCPT TO:<alice@example.test>"));
        }
        await using var immediate = await StartAsync(settings, new RestrictionPolicyOptions { DelayReject = false });
        using var d = new LineClient(immediate.BoundEndpoints["mx"]);
        await d.ReadAsync();
        Assert.Equal("504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", await d.SendAsync("EHLO localhost"));
    }

    [Fact]
    public async Task Unknown_sender_domain_and_recipient_access_over_smtp()
    {
        await using var server = await StartAsync(new()
        {
            ["smtpd_sender_restrictions"] = "reject_unknown_sender_domain",
            ["smtpd_recipient_restrictions"] = "check_recipient_access inline:{ { alice@example.test = REJECT 5.7.1 Alice is on holiday } }",
        });
        using var c = new LineClient(server.BoundEndpoints["mx"]);
        await c.ReadAsync();
        await c.SendAsync("EHLO mx.sender.test");
        await c.SendAsync("MAIL FROM:<a@nowhere.test>");
        Assert.Equal("550 5.1.8 <a@nowhere.test>: Sender address rejected: Domain not found", await c.SendAsync("RCPT TO:<alice@example.test>"));
        await c.SendAsync("RSET");
        await c.SendAsync("MAIL FROM:<a@sender.test>");
        Assert.Equal("554 5.7.1 <alice@example.test>: Recipient address rejected: Alice is on holiday", await c.SendAsync("RCPT TO:<alice@example.test>"));
    }

    [Fact]
    public async Task Postscreen_scoring_replaces_the_greeting_for_listed_clients()
    {
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(3), Retries = 1 });
        await using var server = await StartAsync([], new RestrictionPolicyOptions
        {
            DnsblScoring = new DnsblScoring(resolver, new DnsblScoringOptions { Sites = DnsblScoringOptions.ParseSites("zen.test*2"), Threshold = 2 }),
        });
        using (var listed = new LineClient(server.BoundEndpoints["mx"], Listed))
            Assert.Equal("554 Service unavailable; client [127.0.0.2] blocked using zen.test", await listed.ReadAsync()); // no enhanced code in a greeting (RFC 2034)
        using var clean = new LineClient(server.BoundEndpoints["mx"]);
        Assert.StartsWith("220", await clean.ReadAsync());
    }

    [Fact]
    public async Task A_dnsbl_score_below_the_threshold_travels_with_the_message_to_the_spam_score()
    {
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(3), Retries = 1 });
        await using var server = await StartAsync([], new RestrictionPolicyOptions
        {
            DnsblScoring = new DnsblScoring(resolver, new DnsblScoringOptions { Sites = DnsblScoringOptions.ParseSites("zen.test*2"), Threshold = 3 }),
        });
        using (var listed = new LineClient(server.BoundEndpoints["mx"], Listed))
        {
            Assert.StartsWith("220", await listed.ReadAsync());
            Assert.StartsWith("250", await listed.SendAsync("HELO client.test"));
            Assert.StartsWith("250", await listed.SendAsync("MAIL FROM:<a@sender.test>"));
            Assert.StartsWith("250", await listed.SendAsync("RCPT TO:<alice@example.test>"));
            Assert.StartsWith("354", await listed.SendAsync("DATA"));
            Assert.StartsWith("250", await listed.SendAsync("Subject: t\r\n\r\nbody\r\n."));
        }
        var envelope = Assert.Single(await QueuedAsync());
        Assert.Equal("2", envelope.ConnectionResults[RestrictionPolicy.DnsblScoreResult]);

        var context = new Mail.Core.InboundChecks.InboundContext(envelope, new MimeMessage());
        await new Mail.Defences.Scoring.SpamScoreCheck(new Mail.Defences.Scoring.SpamScoreOptions { DnsblPointWeight = 2.5 }).RunAsync(context, CancellationToken.None);
        Assert.Contains(context.Verdict.Contributions, c => c.Rule == "dnsbl.score=2" && c.Points == 5.0);
    }

    [Fact]
    public async Task Greylisting_over_smtp_with_mailkit_defers_then_delivers_the_retry()
    {
        await using var server = await StartAsync(new() { ["smtpd_recipient_restrictions"] = "reject_unauth_destination, check_greylist" });
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("a@sender.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = "greylist me";
        message.Body = new TextPart("plain") { Text = "hello" };
        var ep = server.BoundEndpoints["mx"];

        using (var first = new SmtpClient())
        {
            await first.ConnectAsync(ep.Address.ToString(), ep.Port, MailKit.Security.SecureSocketOptions.None);
            var e = await Assert.ThrowsAsync<SmtpCommandException>(() => first.SendAsync(message));
            Assert.Equal(SmtpStatusCode.MailboxBusy, e.StatusCode); // 450
            Assert.Contains("Greylisted, please try again in 300 seconds", e.Message, StringComparison.Ordinal);
        }
        _time.Advance(TimeSpan.FromMinutes(6));
        using var retry = new SmtpClient();
        await retry.ConnectAsync(ep.Address.ToString(), ep.Port, MailKit.Security.SecureSocketOptions.None);
        var reply = await retry.SendAsync(message);
        Assert.Contains("queued as", reply, StringComparison.OrdinalIgnoreCase);
        await retry.DisconnectAsync(true);
    }
    [Fact]
    public async Task Body_checks_reject_at_end_of_data_while_the_client_is_connected()
    {
        var checks = new ContentChecks.ContentChecks(new ContentChecks.ContentChecksOptions
        {
            BodyChecks = RegexpTables.RegexpTable.Parse("/cheap pills/ REJECT 5.7.1 No pills here", "body_checks"),
            Normalize = true,
        });
        await using var server = await StartAsync([], endOfData: checks);
        var ep = server.BoundEndpoints["mx"];
        MimeMessage Message(string body)
        {
            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("a@sender.test"));
            m.To.Add(MailboxAddress.Parse("alice@example.test"));
            m.Subject = "offer";
            var part = new TextPart("plain") { Text = body };
            part.ContentTransferEncoding = ContentEncoding.Base64;
            m.Body = part;
            return m;
        }
        using var client = new SmtpClient();
        await client.ConnectAsync(ep.Address.ToString(), ep.Port, MailKit.Security.SecureSocketOptions.None);
        var e = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("Buy CHEAP PІLLS today (Cyrillic I)")));
        Assert.Equal(550, (int)e.StatusCode);
        Assert.Contains("No pills here", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, await QueuedCountAsync());
        var ok = await client.SendAsync(Message("Minutes of the meeting"));
        Assert.Contains("queued as", ok, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, await QueuedCountAsync());
        await client.DisconnectAsync(true);
        // No rule matched: recorded with the message, so the pipeline's content checks need not run again.
        Assert.Equal(checks.CleanResult, (await QueuedAsync())[0].ConnectionResults[EdgeContentInspection.ResultName]);
    }

    [Fact]
    public async Task A_message_with_a_content_hit_the_edge_does_not_act_on_is_left_to_the_pipeline_unrecorded()
    {
        var checks = new ContentChecks.ContentChecks(new ContentChecks.ContentChecksOptions
        {
            HeaderChecks = RegexpTables.RegexpTable.Parse("/^Subject: offer/ HOLD", "header_checks"),
        });
        await using var server = await StartAsync([], endOfData: checks);
        var ep = server.BoundEndpoints["mx"];
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("a@sender.test"));
        m.To.Add(MailboxAddress.Parse("alice@example.test"));
        m.Subject = "offer";
        m.Body = new TextPart("plain") { Text = "hello" };
        using var client = new SmtpClient();
        await client.ConnectAsync(ep.Address.ToString(), ep.Port, MailKit.Security.SecureSocketOptions.None);
        Assert.Contains("queued as", await client.SendAsync(m), StringComparison.OrdinalIgnoreCase);
        await client.DisconnectAsync(true);
        Assert.False((await QueuedAsync())[0].ConnectionResults.ContainsKey(EdgeContentInspection.ResultName));
    }
    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add($"{logLevel}: {formatter(state, exception)}");
        }
    }

    [Fact]
    public async Task Warn_if_reject_over_smtp_accepts_and_logs_the_would_be_reject()
    {
        var logger = new ListLogger();
        await using var server = await StartAsync(new() { ["smtpd_helo_restrictions"] = "warn_if_reject reject_non_fqdn_helo_hostname" }, new RestrictionPolicyOptions { Logger = logger });
        using var c = new LineClient(server.BoundEndpoints["mx"]);
        await c.ReadAsync();
        await c.SendAsync("EHLO localhost");
        await c.SendAsync("MAIL FROM:<a@sender.test>");
        Assert.StartsWith("250", await c.SendAsync("RCPT TO:<alice@example.test>"));
        lock (logger.Lines)
            Assert.Contains(logger.Lines, l => l.StartsWith("Warning:", StringComparison.Ordinal) &&
                l.Contains("reject_warning: 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", StringComparison.Ordinal));
    }
    [Fact]
    public async Task Explicit_permit_relays_for_trusted_clients_but_local_users_are_still_checked_by_the_edge()
    {
        var options = new RestrictionOptions { MyNetworks = [IPNetwork.Parse("127.0.0.4/32")], AuthorizedDestinations = ["example.test"] };
        var policy = new RestrictionPolicy(RestrictionSet.FromSettings(new Dictionary<string, string>(), options),
            new RestrictionPolicyOptions { IsLocalDomain = (d, ct) => new ValueTask<bool>(_directory.IsLocalDomainAsync(d, ct)) });
        var name = Guid.NewGuid().ToString("N");
        await using var server = new SmtpServer(
            new SmtpServerOptions { HostName = "mx.example.test", Listeners = [new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:0", Role = SmtpListenerRole.Mx }] },
            new SmtpServices
            {
                MessageStore = new FileMessageStore(Path.Combine(_root, name, "messages")),
                InboundQueue = new SpoolQueue(Path.Combine(_root, name, "spool"), "inbound"),
                Directory = _directory,
                Policy = policy,
            });
        await server.StartAsync();
        using (var trusted = new LineClient(server.BoundEndpoints["mx"], IPAddress.Parse("127.0.0.4")))
        {
            await trusted.ReadAsync();
            await trusted.SendAsync("EHLO relay.example.test");
            await trusted.SendAsync("MAIL FROM:<alice@example.test>");
            Assert.StartsWith("250", await trusted.SendAsync("RCPT TO:<friend@elsewhere.test>"));
            Assert.StartsWith("550 5.1.1", await trusted.SendAsync("RCPT TO:<nobody@example.test>"));
        }
        using var stranger = new LineClient(server.BoundEndpoints["mx"], IPAddress.Parse("127.0.0.5"));
        await stranger.ReadAsync();
        await stranger.SendAsync("EHLO relay.example.test");
        await stranger.SendAsync("MAIL FROM:<x@sender.test>");
        Assert.Equal("450 4.7.1 <friend@elsewhere.test>: Relay access denied", await stranger.SendAsync("RCPT TO:<friend@elsewhere.test>"));
    }

    [Fact]
    public async Task Restrictions_apply_to_the_listener_roles_configured()
    {
        var policy = new RestrictionPolicy(RestrictionSet.FromSettings(new Dictionary<string, string> { ["smtpd_recipient_restrictions"] = "reject" }, new RestrictionOptions()));
        var client = new IPEndPoint(IPAddress.Parse("198.51.100.1"), 40000);
        var local = new IPEndPoint(IPAddress.Loopback, 25);
        var recipient = new Mail.Core.Model.Recipient { Address = "alice@example.test" };
        var mx = new SmtpSessionFacts("s1", client, local, "mx", SmtpListenerRole.Mx, helo: "h.example", esmtp: true, mailFrom: "a@b.example");
        Assert.Equal(SmtpPolicyAction.Reject, (await policy.OnRcptToAsync(mx, recipient, CancellationToken.None)).Action);
        var submission = new SmtpSessionFacts("s2", client, local, "submission", SmtpListenerRole.Submission, helo: "h.example", esmtp: true, mailFrom: "a@b.example");
        Assert.Equal(SmtpPolicyAction.Continue, (await policy.OnRcptToAsync(submission, recipient, CancellationToken.None)).Action);
    }
    [Fact]
    public async Task Sasl_identity_and_the_edge_confirmed_name_reach_the_restrictions()
    {
        var policy = new RestrictionPolicy(RestrictionSet.FromSettings(new Dictionary<string, string>
        {
            ["smtpd_client_restrictions"] = "check_client_access inline:{ mail.good.example=REJECT }",
            ["smtpd_recipient_restrictions"] = "permit_sasl_authenticated, reject",
        }, new RestrictionOptions { AuthorizedDestinations = ["example.test"] }));
        var client = new IPEndPoint(IPAddress.Parse("198.51.100.1"), 40000);
        var local = new IPEndPoint(IPAddress.Loopback, 25);
        var recipient = new Mail.Core.Model.Recipient { Address = "bob@example.test" };
        var authenticated = new SmtpSessionFacts("s1", client, local, "mx", SmtpListenerRole.Mx, helo: "h.example", mailFrom: "a@b.example", authenticatedUser: "alice@example.test");
        Assert.Equal(SmtpPolicyAction.Continue, (await policy.OnRcptToAsync(authenticated, recipient, CancellationToken.None)).Action);
        var anonymous = new SmtpSessionFacts("s2", client, local, "mx", SmtpListenerRole.Mx, helo: "h.example", mailFrom: "a@b.example");
        Assert.Equal(554, (await policy.OnRcptToAsync(anonymous, recipient, CancellationToken.None)).Code);
        var named = new SmtpSessionFacts("s3", client, local, "mx", SmtpListenerRole.Mx, helo: "h.example", mailFrom: "a@b.example",
            reverseName: "mail.good.example", connectionResults: new Dictionary<string, string> { ["fcrdns"] = "pass" });
        var r = await policy.OnRcptToAsync(named, recipient, CancellationToken.None);
        Assert.Equal("<mail.good.example[198.51.100.1]>: Client host rejected: Access denied", r.Text);
    }
    // ---- edge facts and effects over real SMTP (SPF at MAIL FROM, pipelining, HOLD/DISCARD/PREPEND, policy service) ----

    private static async Task<string> DeliverAsync(LineClient c, string from, string to = "alice@example.test")
    {
        Assert.StartsWith("250", await c.SendAsync($"MAIL FROM:<{from}>"));
        var rcpt = await c.SendAsync($"RCPT TO:<{to}>");
        if (!rcpt.StartsWith("250", StringComparison.Ordinal))
        {
            Assert.StartsWith("250", await c.SendAsync("RSET"));
            return rcpt;
        }
        Assert.StartsWith("354", await c.SendAsync("DATA"));
        return await c.SendAsync($"From: <{from}>\r\nSubject: test\r\n\r\nhello\r\n.");
    }

    [Fact]
    public async Task Reject_spf_fail_refuses_a_forged_sender_and_lets_a_pass_through()
    {
        _dns.AddTxt("forged.test", ["v=spf1 ip4:192.0.2.1 -all"]);
        _dns.AddTxt("spf-ok.test", ["v=spf1 ip4:127.0.0.0/8 -all"]);
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(3), Retries = 1 });
        await using var server = await StartAsync(new() { ["smtpd_sender_restrictions"] = "reject_spf_fail" }, spf: new Mail.Spf.SpfChecker(resolver));
        using (var c = new LineClient(server.BoundEndpoints["mx"]))
        {
            Assert.StartsWith("220", await c.ReadAsync());
            Assert.StartsWith("250", await c.SendAsync("EHLO mx.sender.test"));
            // smtpd_delay_reject: the sender list answers at RCPT TO.
            Assert.Equal("550 5.7.23 <b@forged.test>: Sender address rejected: SPF check failed for forged.test", await DeliverAsync(c, "b@forged.test"));
        }
        using (var smtp = new SmtpClient())
        {
            var ep = server.BoundEndpoints["mx"];
            await smtp.ConnectAsync(ep.Address.ToString(), ep.Port, MailKit.Security.SecureSocketOptions.None);
            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("a@spf-ok.test"));
            m.To.Add(MailboxAddress.Parse("alice@example.test"));
            m.Subject = "spf pass";
            m.Body = new TextPart("plain") { Text = "hello" };
            await smtp.SendAsync(m);
            await smtp.DisconnectAsync(true);
        }
        var queued = Assert.Single(await QueuedAsync());
        Assert.Equal("pass", queued.ConnectionResults["spf"]);
        Assert.Equal("spf-ok.test", queued.ConnectionResults["spf.domain"]);
    }

    [Fact]
    public async Task Reject_unauth_pipelining_refuses_data_sent_before_the_354_but_not_a_proper_pipeliner()
    {
        await using var server = await StartAsync(new() { ["smtpd_data_restrictions"] = "reject_unauth_pipelining" });
        using (var c = new LineClient(server.BoundEndpoints["mx"]))
        {
            Assert.StartsWith("220", await c.ReadAsync());
            Assert.StartsWith("250", await c.SendAsync("EHLO mx.sender.test"));
            Assert.StartsWith("250", await c.SendAsync("MAIL FROM:<a@sender.test>"));
            Assert.StartsWith("250", await c.SendAsync("RCPT TO:<alice@example.test>"));
            // A bulk mailer that does not wait for "354" before sending the message.
            await c.WriteAsync("DATA\r\nSubject: spam\r\n\r\nbuy now\r\n.\r\n");
            var reply = await c.ReadAsync();
            Assert.StartsWith("503 5.5.0", reply);
            Assert.Contains("Improper use of SMTP command pipelining", reply, StringComparison.Ordinal);
        }
        Assert.Equal(0, await QueuedCountAsync());
        // MailKit pipelines MAIL/RCPT/DATA as RFC 2920 allows (after PIPELINING was advertised, DATA last): accepted.
        using (var smtp = new SmtpClient())
        {
            var ep = server.BoundEndpoints["mx"];
            await smtp.ConnectAsync(ep.Address.ToString(), ep.Port, MailKit.Security.SecureSocketOptions.None);
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("a@sender.test"));
            m.To.Add(MailboxAddress.Parse("alice@example.test"));
            m.Subject = "proper";
            m.Body = new TextPart("plain") { Text = "hello" };
            await smtp.SendAsync(m);
            await smtp.DisconnectAsync(true);
        }
        Assert.Equal(1, await QueuedCountAsync());
    }

    [Fact]
    public async Task Reject_unauth_pipelining_refuses_a_client_that_talks_before_the_ehlo_reply()
    {
        await using var server = await StartAsync(new() { ["smtpd_client_restrictions"] = "reject_unauth_pipelining" });
        using var c = new LineClient(server.BoundEndpoints["mx"]);
        Assert.StartsWith("220", await c.ReadAsync());
        await c.WriteAsync("EHLO mx.sender.test\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<alice@example.test>\r\n");
        Assert.StartsWith("250", await c.ReadAsync());
        Assert.StartsWith("250", await c.ReadAsync());
        Assert.StartsWith("503 5.5.0", await c.ReadAsync());
    }

    [Fact]
    public async Task Access_table_hold_discard_and_prepend_reach_the_envelope_and_the_pipeline_applies_them()
    {
        await using var server = await StartAsync(new()
        {
            ["smtpd_sender_restrictions"] = "check_sender_access inline:{ held@sender.test=HOLD, dropped@sender.test=DISCARD, { tagged@sender.test = PREPEND X-Tag: from access table }, { moved@sender.test = REDIRECT abuse@example.test } }",
        });
        using (var c = new LineClient(server.BoundEndpoints["mx"]))
        {
            Assert.StartsWith("220", await c.ReadAsync());
            Assert.StartsWith("250", await c.SendAsync("EHLO mx.sender.test"));
            // One session, several transactions: each effect belongs to its own message only.
            foreach (var from in new[] { "held@sender.test", "dropped@sender.test", "tagged@sender.test", "moved@sender.test", "plain@sender.test" })
                Assert.StartsWith("250", await DeliverAsync(c, from));
        }
        var byFrom = (await QueuedAsync()).ToDictionary(e => e.MailFrom);
        Assert.Equal(5, byFrom.Count);
        Assert.Contains("check_sender_access", byFrom["held@sender.test"].Decisions?.Hold, StringComparison.Ordinal);
        Assert.NotNull(byFrom["dropped@sender.test"].Decisions?.Discard);
        Assert.Equal(["X-Tag: from access table"], byFrom["tagged@sender.test"].Decisions?.Prepend);
        Assert.Equal("abuse@example.test", byFrom["moved@sender.test"].Decisions?.Redirect);
        Assert.Null(byFrom["plain@sender.test"].Decisions);
        Assert.Null(byFrom["dropped@sender.test"].Decisions?.Hold);

        async Task<Mail.Core.InboundChecks.InboundContext> Apply(string from)
        {
            var context = new Mail.Core.InboundChecks.InboundContext(byFrom[from], new MimeMessage());
            await new EdgeDecisionsCheck().RunAsync(context, CancellationToken.None);
            return context;
        }
        Assert.Equal(Mail.Core.InboundChecks.Disposition.Quarantine, (await Apply("held@sender.test")).Verdict.Disposition);
        Assert.Equal(Mail.Core.InboundChecks.Disposition.Discard, (await Apply("dropped@sender.test")).Verdict.Disposition);
        Assert.Equal("from access table", (await Apply("tagged@sender.test")).PrependHeaders.Single(h => h.Field == "X-Tag").Value);
        Assert.Equal("abuse@example.test", (await Apply("moved@sender.test")).Results["policy.redirect"]);
        var plain = await Apply("plain@sender.test");
        Assert.Equal(Mail.Core.InboundChecks.Disposition.Inbox, plain.Verdict.Disposition);
        Assert.Empty(plain.PrependHeaders);
    }

    [Fact]
    public async Task Check_policy_service_over_smtp_rejects_and_prepends_per_recipient()
    {
        await _directory.SetUserAsync("bad@example.test", "secret");
        await _directory.SetUserAsync("tag@example.test", "secret");
        await using var policyServer = new TinyPolicyServer();
        await using var server = await StartAsync(new() { ["smtpd_recipient_restrictions"] = $"check_policy_service inet:127.0.0.1:{policyServer.Port}" });
        using (var c = new LineClient(server.BoundEndpoints["mx"]))
        {
            Assert.StartsWith("220", await c.ReadAsync());
            Assert.StartsWith("250", await c.SendAsync("EHLO mx.sender.test"));
            Assert.StartsWith("250", await c.SendAsync("MAIL FROM:<a@sender.test>"));
            Assert.StartsWith("554 5.7.1 <bad@example.test>", await c.SendAsync("RCPT TO:<bad@example.test>"));
            Assert.StartsWith("250", await c.SendAsync("RCPT TO:<tag@example.test>"));
            Assert.StartsWith("354", await c.SendAsync("DATA"));
            Assert.StartsWith("250", await c.SendAsync("Subject: t\r\n\r\nhello\r\n."));
        }
        var envelope = Assert.Single(await QueuedAsync());
        Assert.Equal(["tag@example.test"], envelope.Recipients.Select(r => r.Address));
        Assert.Equal(["X-Policy: tagged"], envelope.Decisions?.Prepend);
        var request = policyServer.Requests.First(r => r.GetValueOrDefault("recipient") == "tag@example.test");
        Assert.Equal("a@sender.test", request["sender"]);
        Assert.Equal("127.0.0.1", request["client_address"]);
    }
    [Fact]
    public async Task Sleep_then_reject_unauth_pipelining_at_connect_catches_a_client_that_talks_before_the_greeting()
    {
        // Postfix's classic "smtpd_client_restrictions = sleep 1, reject_unauth_pipelining" with smtpd_delay_reject = no.
        // The sleep is a gate the test opens, so nothing here depends on how long anything takes.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sleeping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slept = new List<TimeSpan>();
        await using var server = await StartAsync(new() { ["smtpd_client_restrictions"] = "sleep 1, reject_unauth_pipelining" },
            new RestrictionPolicyOptions { DelayReject = false },
            sleep: async (d, ct) =>
            {
                lock (slept) slept.Add(d);
                sleeping.TrySetResult();
                await gate.Task.WaitAsync(ct);
            });
        using (var bot = new LineClient(server.BoundEndpoints["mx"]))
        {
            // Talk only once the session is inside its sleep, so the octets are waiting when the sleep ends
            // however slowly the server got there.
            await sleeping.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await bot.WriteAsync("EHLO bot.test\r\n");
            // Let the octets cross loopback into the server's socket buffer (a settle, not a timing assertion).
            await Task.Delay(200);
            gate.SetResult();
            var reply = await bot.ReadAsync();
            Assert.StartsWith("503", reply);
            Assert.Contains("Improper use of SMTP command pipelining", reply, StringComparison.Ordinal);
        }
        using (var polite = new LineClient(server.BoundEndpoints["mx"]))
        {
            Assert.StartsWith("220", await polite.ReadAsync());
            Assert.StartsWith("250", await polite.SendAsync("EHLO polite.test"));
            Assert.Equal("250 2.1.0 Ok", await polite.SendAsync("MAIL FROM:<a@sender.test>"));
        }
        lock (slept) Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)], slept);
    }
    [Fact]
    public async Task Effects_of_a_recipient_the_edge_refuses_do_not_reach_the_message()
    {
        await using var server = await StartAsync(new()
        {
            ["smtpd_recipient_restrictions"] = "check_recipient_access inline:{ ghost@example.test=HOLD, { alice@example.test = PREPEND X-For: alice } }",
        });
        using (var c = new LineClient(server.BoundEndpoints["mx"]))
        {
            Assert.StartsWith("220", await c.ReadAsync());
            Assert.StartsWith("250", await c.SendAsync("EHLO mx.sender.test"));
            Assert.StartsWith("250", await c.SendAsync("MAIL FROM:<a@sender.test>"));
            // The table says HOLD, but the edge refuses the unknown user: the HOLD goes with the refused recipient.
            Assert.StartsWith("550 5.1.1", await c.SendAsync("RCPT TO:<ghost@example.test>"));
            Assert.StartsWith("250", await c.SendAsync("RCPT TO:<alice@example.test>"));
            Assert.StartsWith("354", await c.SendAsync("DATA"));
            Assert.StartsWith("250", await c.SendAsync("Subject: t\r\n\r\nhello\r\n."));
        }
        var decisions = Assert.Single(await QueuedAsync()).Decisions;
        Assert.Null(decisions?.Hold);
        Assert.Equal(["X-For: alice"], decisions?.Prepend);
    }
    [Fact]
    public async Task Greylisting_keys_on_the_spf_domain_the_edge_verified_so_a_retry_from_another_network_passes()
    {
        _dns.AddTxt("bigsender.test", ["v=spf1 ip4:127.0.0.0/8 -all"]);
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(3), Retries = 1 });
        await using var server = await StartAsync(new() { ["smtpd_recipient_restrictions"] = "reject_unauth_destination, check_greylist" },
            spf: new Mail.Spf.SpfChecker(resolver));
        var ep = server.BoundEndpoints["mx"];

        async Task<string> AttemptAsync(string from, string clientAddress)
        {
            using var c = new LineClient(ep, IPAddress.Parse(clientAddress));
            Assert.StartsWith("220", await c.ReadAsync());
            Assert.StartsWith("250", await c.SendAsync("EHLO out.example"));
            return await DeliverAsync(c, from);
        }

        // SPF pass: the first attempt is deferred, the retry from another /24 of the same SPF record is not.
        Assert.StartsWith("450", await AttemptAsync("news@bigsender.test", "127.0.1.5"));
        // Without SPF (sender.test has no record) the triplet is keyed on the client's /24.
        Assert.StartsWith("450", await AttemptAsync("a@sender.test", "127.0.1.5"));
        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.StartsWith("250", await AttemptAsync("news@bigsender.test", "127.0.2.6"));
        Assert.StartsWith("450", await AttemptAsync("a@sender.test", "127.0.2.6"));
        var queued = Assert.Single(await QueuedAsync());
        Assert.Equal("pass", queued.ConnectionResults["spf"]);
    }
}
