using Mail.Testing.Dns;
using Mail.Core.Accounts;
using Mail.Dns;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Core.SmtpPolicy;
using Mail.Smtp;
using Mail.Storage.Embedded;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Tests;

/// <summary>
/// Issue 3 end to end: messages sent over SMTP (MailKit) to the running edge on loopback, processed by the inbound
/// stage with <see cref="AuthenticationCheck"/>, whose SPF, DKIM and DMARC records live in dnsmasq on loopback, arrive
/// in the mailbox with the right Authentication-Results.
/// </summary>
public sealed class EndToEndTests : IAsyncLifetime
{
    private const string AuthServId = "mx.receiver.test";
    private const string LocalDomain = "receiver.test";
    private const string Rcpt = "bob@receiver.test";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mail-auth-e2e-" + Guid.NewGuid().ToString("N"));
    private Dnsmasq _dns = null!;
    private SmtpServer _smtp = null!;
    private FileMessageStore _store = null!;
    private SpoolQueue _inbound = null!;
    private SqliteMailboxStore _mailboxes = null!;
    private MailDirectory _directory = null!;
    private Dkimpy.Key _key = null!;

    public async Task InitializeAsync()
    {
        _key = await TestKeys.Rsa;
        _dns = await Dnsmasq.StartAsync(["example"],
        [
            Dnsmasq.TxtRecord("good.example", "v=spf1 ip4:127.0.0.1 -all"),
            Dnsmasq.TxtRecord("sel._domainkey.good.example", _key.Record()),
            Dnsmasq.TxtRecord("_dmarc.good.example", "v=DMARC1; p=reject; rua=mailto:dmarc@good.example"),
            Dnsmasq.TxtRecord("bank.example", "v=spf1 ip4:192.0.2.1 -all"),
            Dnsmasq.TxtRecord("_dmarc.bank.example", "v=DMARC1; p=reject"),
        ]);

        Directory.CreateDirectory(_root);
        _store = new FileMessageStore(Path.Combine(_root, "messages"));
        _inbound = new SpoolQueue(Path.Combine(_root, "spool"), "inbound");
        _mailboxes = new SqliteMailboxStore(Path.Combine(_root, "mailboxes.db"));
        _directory = new MailDirectory(new SqliteStateStore(Path.Combine(_root, "state.db")), passwordIterations: 1000);
        await _directory.AddDomainAsync(LocalDomain);
        await _directory.SetUserAsync(Rcpt, "secret");
        _smtp = new SmtpServer(new SmtpServerOptions
        {
            HostName = AuthServId,
            Listeners = [new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:0", Role = SmtpListenerRole.Mx }],
        }, new SmtpServices { MessageStore = _store, InboundQueue = _inbound, Directory = _directory });
        await _smtp.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _smtp.DisposeAsync();
        await _dns.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task SendAsync(string text, string mailFrom)
    {
        using var client = new SmtpClient();
        var mx = _smtp.BoundEndpoints["mx"];
        await client.ConnectAsync(mx.Address.ToString(), mx.Port, SecureSocketOptions.None);
        await client.SendAsync(Messages.Parse(text), MailboxAddress.Parse(mailFrom), [MailboxAddress.Parse(Rcpt)]);
        await client.DisconnectAsync(true);
    }

    private async Task ProcessInboundAsync()
    {
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(3), Retries = 1 });
        var check = new AuthenticationCheck(resolver, new AuthenticationOptions { AuthServId = AuthServId });
        var stage = new InboundStage(_store, _mailboxes, _directory, new SpoolQueue(Path.Combine(_root, "outbound"), "outbound"), [check]);
        var leases = await _inbound.ReceiveAsync(10, TimeSpan.FromMinutes(1));
        foreach (var lease in leases)
        {
            await stage.ProcessAsync(lease.Envelope);
            await _inbound.CompleteAsync(lease);
        }
    }

    private async Task<MimeMessage> DeliveredAsync(string mailbox, string subject)
    {
        foreach (var record in await _mailboxes.ListMessagesAsync(Rcpt, mailbox))
        {
            await using var stream = await _store.OpenReadAsync(record.MessageRef);
            var message = await MimeMessage.LoadAsync(stream!);
            if (message.Subject == subject) return message;
        }
        throw new Xunit.Sdk.XunitException($"no message \"{subject}\" in {mailbox}");
    }

    private static AuthenticationResults OurResults(MimeMessage message)
    {
        var ours = message.Headers.Where(h => h.Id == HeaderId.AuthenticationResults)
            .Select(h => AuthenticationResults.TryParse(h.RawValue, out var ar) ? ar : null)
            .Where(ar => ar?.AuthenticationServiceIdentifier == AuthServId)
            .ToList();
        return Assert.Single(ours)!;
    }

    private static string ResultOf(AuthenticationResults ar, string method) => Assert.Single(ar.Results, r => r.Method == method).Result;

    [Fact]
    public async Task Authenticated_mail_lands_in_inbox_and_forged_mail_in_junk_with_authentication_results()
    {
        var genuine = await Dkimpy.SignAsync(Messages.Simple("good.example", subject: "Quarterly report"), "sel", "good.example", _key);
        // The forger also adds an Authentication-Results in our name; it must not survive.
        var forged = $"Authentication-Results: {AuthServId}; dkim=pass header.d=bank.example; dmarc=pass header.from=bank.example\r\n"
                     + Messages.Simple("bank.example", subject: "Verify your account");

        await SendAsync(genuine, "alice@good.example");
        await SendAsync(forged, "security@bank.example");
        await ProcessInboundAsync();

        var inbox = await DeliveredAsync("INBOX", "Quarterly report");
        var good = OurResults(inbox);
        Assert.Equal("pass", ResultOf(good, "spf"));
        Assert.Equal("pass", ResultOf(good, "dkim"));
        Assert.Equal("pass", ResultOf(good, "dmarc"));
        Assert.StartsWith("pass", inbox.Headers["Received-SPF"], StringComparison.Ordinal);
        Assert.Equal("good.example", Assert.Single(good.Results, r => r.Method == "dmarc").Properties.Single(p => p.Property == "from").Value);

        var junk = await DeliveredAsync("Junk", "Verify your account");
        var bad = OurResults(junk); // exactly one: the forged one was removed
        Assert.Equal("fail", ResultOf(bad, "spf"));
        Assert.Equal("none", ResultOf(bad, "dkim"));
        Assert.Equal("fail", ResultOf(bad, "dmarc"));
    }
}
