using Mail.Storage.Azure;
using MailKit.Net.Smtp;
using MimeKit;

namespace Mail.Azure.Tests;

/// <summary>
/// Cloud mode end to end, all real except the Functions host: the SMTP edge over the Azure adapters (Blob + Storage
/// Queue + Table state), a MailKit client sending over a loopback socket, and the inbound function invoked with
/// the queue message as the host would → the recipient's mailbox in Table storage, the delivered copy in Blob storage.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class CloudEndToEndTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Smtp_to_blob_and_queue_to_function_to_table_mailbox_exactly_once()
    {
        await using var edge = await CloudEdge.StartAsync(azurite, "bob@example.org");
        var (azure, mx) = (edge.Azure, edge.Mx);

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.net"));
        message.To.Add(MailboxAddress.Parse("bob@example.org"));
        message.Subject = "through the cloud";
        message.Body = new TextPart("plain") { Text = "Stored in a blob, indexed in a table." };
        using (var client = new SmtpClient())
        {
            await client.ConnectAsync(mx.Address.ToString(), mx.Port, MailKit.Security.SecureSocketOptions.None);
            var reply = await client.SendAsync(message);
            Assert.Contains("queued as", reply, StringComparison.OrdinalIgnoreCase);
            await client.DisconnectAsync(true);
        }

        // The edge's 250 came after both writes: the raw message is in Blob storage and the envelope on the queue.
        var queue = (StorageQueueMessageQueue)azure.InboundQueue;
        var waiting = Assert.Single(await queue.ListAsync().ToListAsync());
        Assert.True(await azure.MessageStore.ExistsAsync(waiting.Envelope.MessageRef));
        Assert.Equal(["bob@example.org"], waiting.Envelope.Recipients.Select(r => r.Address));

        // The Functions host's part: receive, invoke, delete on success.
        var function = edge.InboundFunction();
        var received = await edge.ReceiveAsync();
        await function.Run(received, default);
        await function.Run(received, default); // delivered twice (at-least-once): still one copy
        await queue.Queue.DeleteMessageAsync(received.MessageId, received.PopReceipt);

        var inbox = await azure.MailboxStore.ListMessagesAsync("bob@example.org", "INBOX");
        var record = Assert.Single(inbox);
        await using var stored = await azure.MessageStore.OpenReadAsync(record.MessageRef);
        var delivered = await MimeMessage.LoadAsync(stored!);
        Assert.Equal("through the cloud", delivered.Subject);
        Assert.Equal("bob@example.org", delivered.Headers["Delivered-To"]);
        Assert.Contains("mx.example.org", delivered.Headers[HeaderId.Received], StringComparison.Ordinal);
        Assert.Equal(message.MessageId, delivered.MessageId);
        Assert.Empty(await queue.ListAsync().ToListAsync());
    }
}
