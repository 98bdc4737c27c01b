using System.Text;
using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Pipeline.Inbound;
using Mail.Storage.Embedded;

namespace Mail.Core.Tests;

/// <summary>Real embedded stores in a temp directory, a directory with example.org/alice+bob.</summary>
public sealed class PipelineFixture : IDisposable
{
    public PipelineFixture()
    {
        Directory.CreateDirectory(Root);
        Messages = new FileMessageStore(Path.Combine(Root, "messages"));
        Inbound = new SpoolQueue(Path.Combine(Root, "queue"), "inbound");
        Outbound = new SpoolQueue(Path.Combine(Root, "queue"), "outbound");
        State = new SqliteStateStore(Path.Combine(Root, "mail.db"));
        Mailboxes = new SqliteMailboxStore(Path.Combine(Root, "mail.db"));
        Directory_ = new MailDirectory(State, passwordIterations: 1000);
        Directory_.AddDomainAsync("example.org").GetAwaiter().GetResult();
        Directory_.SetUserAsync("alice@example.org", "pw").GetAwaiter().GetResult();
        Directory_.SetUserAsync("bob@example.org", "pw").GetAwaiter().GetResult();
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "mail-pipeline-" + Guid.NewGuid().ToString("N"));
    public FileMessageStore Messages { get; }
    public SpoolQueue Inbound { get; }
    public SpoolQueue Outbound { get; }
    public SqliteStateStore State { get; }
    public SqliteMailboxStore Mailboxes { get; }
    public MailDirectory Directory_ { get; }

    public InboundStage Stage(params IInboundCheck[] checks) => new(Messages, Mailboxes, Directory_, Outbound, checks);

    /// <summary>A stage with the state store, as `mail serve` builds it: Quarantine holds messages.</summary>
    public InboundStage HoldingStage(params IInboundCheck[] checks) => new(Messages, Mailboxes, Directory_, Outbound, checks, state: State);

    public const string RawMessage =
        "Received: from mail.example.net by mx.example.org; Sat, 28 Nov 2026 12:00:00 +0000\r\n" +
        "From: Sender <sender@example.net>\r\n" +
        "To: alice@example.org\r\n" +
        "Subject: a folded\r\n subject line\r\n" +
        "Authentication-Results: mx.example.org; spf=pass (forged)\r\n" +
        "Message-ID: <m1@example.net>\r\n" +
        "\r\n" +
        "Hello Alice,\r\n\r\nSubject: not a header\r\n.. dots stay as stored\r\n";

    public async Task<Envelope> StoreAsync(string raw = RawMessage, params string[] recipients)
    {
        var id = "in-" + Guid.NewGuid().ToString("N");
        await using (var w = await Messages.CreateAsync(id))
        {
            await w.WriteAsync(Encoding.UTF8.GetBytes(raw));
            await w.CommitAsync();
        }
        return new Envelope
        {
            QueueId = "Q" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant(),
            MessageRef = id,
            ReceivedAt = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero),
            Size = raw.Length,
            Client = new ClientInfo { Address = "192.0.2.1", Helo = "mail.example.net" },
            MailFrom = "sender@example.net",
            Recipients = (recipients.Length == 0 ? ["alice@example.org"] : recipients).Select(r => new Recipient { Address = r }).ToList(),
        };
    }

    public async Task<string> ReadAsync(string messageRef)
    {
        await using var s = await Messages.OpenReadAsync(messageRef);
        Assert.NotNull(s);
        using var reader = new StreamReader(s, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    public async Task<IReadOnlyList<MessageRecord>> ListAsync(string user, string mailbox = "INBOX") =>
        await Mailboxes.GetMailboxAsync(user, mailbox) is null ? [] : await Mailboxes.ListMessagesAsync(user, mailbox);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Root, true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A check with a fixed effect, to drive the stage's handling of verdicts and headers.</summary>
public sealed class ScriptedCheck(Action<InboundContext> effect) : IInboundCheck
{
    public string Name => "scripted";

    public int Runs { get; private set; }

    public Task RunAsync(InboundContext context, CancellationToken cancellationToken)
    {
        Runs++;
        effect(context);
        return Task.CompletedTask;
    }
}
