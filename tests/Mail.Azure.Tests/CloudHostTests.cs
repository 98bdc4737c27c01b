using Azure.Storage.Queues.Models;
using Mail.Core.Accounts;
using Mail.Functions;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Storage.Azure;
using Mail.Testing;
using MailKit.Net.Imap;
using MailKit.Search;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Azure.Tests;

/// <summary>
/// The real `mail` executable in cloud mode (Mode=cloud, section Azure) against Azurite: the admin commands write
/// domains and users to Table storage, the SMTP edge writes Blob + queue, the inbound function (invoked as the
/// Functions host would) delivers into the Table mailbox, and the same process's IMAP gateway serves it.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class CloudHostTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Mail_serve_in_cloud_mode_accepts_over_smtp_and_serves_the_delivered_message_over_imap()
    {
        var options = CloudEdge.FreshOptions(azurite);
        string[] cloud =
        [
            "--Mode=cloud", $"--Azure:ConnectionString={options.ConnectionString}", $"--Azure:MessageContainer={options.MessageContainer}",
            $"--Azure:InboundQueue={options.InboundQueue}", $"--Azure:OutboundQueue={options.OutboundQueue}",
            $"--Azure:MailboxTable={options.MailboxTable}", $"--Azure:StateTable={options.StateTable}",
        ];
        await HostProcess.AdminOkAsync(_data.Path, ["domain", "add", "example.org", .. cloud]);
        await HostProcess.AdminOkAsync(_data.Path, ["user", "add", "bob@example.org", "--password", "secret", .. cloud]);

        await using var host = await HostProcess.StartAsync(_data.Path, cloud);
        Assert.Contains("mode cloud", host.Output, StringComparison.Ordinal);
        var swaks = await ExternalProcess.RunAsync("swaks",
            ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "bob@example.org", "--from", "alice@example.net", "--header", "Subject: via the cloud edge"]);
        Assert.True(swaks.ExitCode == 0, swaks.StdOut + swaks.StdErr);

        // Cloud mode runs no local worker: the envelope waits on the Storage queue for the Functions app.
        await using var azure = AzureAdapters.Create(options);
        var queue = (StorageQueueMessageQueue)azure.InboundQueue;
        var waiting = Assert.Single(await queue.ListAsync().ToListAsync());
        Assert.True(await azure.MessageStore.ExistsAsync(waiting.Envelope.MessageRef));

        var directory = new MailDirectory(azure.StateStore);
        var stage = new InboundStage(azure.MessageStore, azure.MailboxStore, directory, azure.OutboundQueue, []);
        var function = new InboundFunction(new InboundRunner(stage, new FunctionsOptions(), NullLogger<InboundRunner>.Instance),
            new FunctionQueues(queue, (StorageQueueMessageQueue)azure.OutboundQueue), NullLogger<InboundFunction>.Instance);
        QueueMessage received = (await queue.Queue.ReceiveMessagesAsync(1, TimeSpan.FromSeconds(30))).Value.Single();
        await function.Run(received, default);
        await queue.Queue.DeleteMessageAsync(received.MessageId, received.PopReceipt);

        // The same process's IMAP gateway reads the Table mailbox and the Blob copy.
        using var imap = new ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
        await imap.AuthenticateAsync("bob@example.org", "secret");
        await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        var uids = await imap.Inbox.SearchAsync(SearchQuery.SubjectContains("via the cloud edge"));
        var message = await imap.Inbox.GetMessageAsync(Assert.Single(uids));
        Assert.Equal("bob@example.org", message.Headers["Delivered-To"]);
        await imap.DisconnectAsync(true);
    }
}
