using System.Net;
using Azure.Storage.Queues.Models;
using Mail.Core.Accounts;
using Mail.Functions;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Core.SmtpPolicy;
using Mail.Smtp;
using Mail.Storage.Azure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mail.Azure.Tests;

/// <summary>
/// The cloud path's parts as the end-to-end tests use them: the Azure adapters on Azurite under fresh names, a
/// directory with example.org and its users, the SMTP edge on a loopback port over those adapters, and the inbound
/// function as the Functions host invokes it (receive, Run, delete).
/// </summary>
internal sealed class CloudEdge : IAsyncDisposable
{
    private CloudEdge(AzureAdapters azure, MailDirectory directory, SmtpServer server)
    {
        Azure = azure;
        Directory = directory;
        Server = server;
    }

    public AzureAdapters Azure { get; }
    public MailDirectory Directory { get; }
    public SmtpServer Server { get; }
    public IPEndPoint Mx => Server.BoundEndpoints["mx"];
    public StorageQueueMessageQueue Inbound => (StorageQueueMessageQueue)Azure.InboundQueue;

    public static AzureStorageOptions FreshOptions(AzuriteFixture azurite) => new()
    {
        ConnectionString = azurite.ConnectionString,
        MessageContainer = AzuriteFixture.UniqueName("msgs"),
        InboundQueue = AzuriteFixture.UniqueName("inbound"),
        OutboundQueue = AzuriteFixture.UniqueName("outbound"),
        MailboxTable = AzuriteFixture.UniqueName("mbx"),
        StateTable = AzuriteFixture.UniqueName("state"),
    };

    public static async Task<CloudEdge> StartAsync(AzuriteFixture azurite, params string[] users)
    {
        var azure = AzureAdapters.Create(FreshOptions(azurite));
        var directory = new MailDirectory(azure.StateStore, passwordIterations: 1000);
        await directory.AddDomainAsync("example.org");
        foreach (var user in users) await directory.SetUserAsync(user, "secret");
        var server = new SmtpServer(
            new SmtpServerOptions
            {
                HostName = "mx.example.org",
                Listeners = [new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1:0", Role = SmtpListenerRole.Mx }],
            },
            new SmtpServices { MessageStore = azure.MessageStore, InboundQueue = azure.InboundQueue, Directory = directory });
        await server.StartAsync();
        return new CloudEdge(azure, directory, server);
    }

    /// <summary>The inbound function over these adapters, with no checks (as a deployment without DNS would run).</summary>
    public InboundFunction InboundFunction()
    {
        var stage = new InboundStage(Azure.MessageStore, Azure.MailboxStore, Directory, Azure.OutboundQueue, []);
        var runner = new InboundRunner(stage, new FunctionsOptions(), NullLogger<InboundRunner>.Instance);
        return new InboundFunction(runner, new FunctionQueues(Inbound, (StorageQueueMessageQueue)Azure.OutboundQueue), NullLogger<InboundFunction>.Instance);
    }

    /// <summary>The host's receive: the one waiting message, hidden for 30 s while the function runs.</summary>
    public async Task<QueueMessage> ReceiveAsync() => (await Inbound.Queue.ReceiveMessagesAsync(1, TimeSpan.FromSeconds(30))).Value.Single();

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Azure.DisposeAsync();
    }
}
