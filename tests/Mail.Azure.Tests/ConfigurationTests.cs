using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Functions;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Pipeline.Quarantine;
using Mail.Storage.Azure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mail.Azure.Tests;

public sealed class AzureStorageOptionsTests
{
    [Theory]
    [InlineData(null, null, null, "StorageQueue", "Azure:BlobServiceUri")]
    [InlineData("https://a.blob.core.windows.net/", null, "https://a.table.core.windows.net/", "StorageQueue", "Azure:QueueServiceUri")]
    [InlineData("https://a.blob.core.windows.net/", "https://a.queue.core.windows.net/", null, "StorageQueue", "Azure:TableServiceUri")]
    [InlineData("https://a.blob.core.windows.net/", "https://a.queue.core.windows.net/", "https://a.table.core.windows.net/", "Kafka", "Azure:QueueTransport")]
    [InlineData("https://a.blob.core.windows.net/", null, "https://a.table.core.windows.net/", "ServiceBus", "Azure:ServiceBusNamespace")]
    [InlineData("ftp://a.blob.core.windows.net/", "https://a.queue.core.windows.net/", "https://a.table.core.windows.net/", "StorageQueue", "Azure:BlobServiceUri")]
    public void Missing_or_wrong_settings_are_named(string? blob, string? queue, string? table, string transport, string named)
    {
        var options = new AzureStorageOptions
        {
            BlobServiceUri = blob is null ? null : new Uri(blob),
            QueueServiceUri = queue is null ? null : new Uri(queue),
            TableServiceUri = table is null ? null : new Uri(table),
            QueueTransport = transport,
        };
        var e = Assert.Throws<AzureConfigurationException>(options.Validate);
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(AzureStorageOptions.MessageContainer), "Messages")]
    [InlineData(nameof(AzureStorageOptions.InboundQueue), "in_bound")]
    [InlineData(nameof(AzureStorageOptions.MailboxTable), "mail-boxes")]
    [InlineData(nameof(AzureStorageOptions.StateTable), "1state")]
    public void Bad_resource_names_are_named(string property, string value)
    {
        var options = new AzureStorageOptions { ConnectionString = "UseDevelopmentStorage=true" };
        typeof(AzureStorageOptions).GetProperty(property)!.SetValue(options, value);
        var e = Assert.Throws<AzureConfigurationException>(options.Validate);
        Assert.Contains("Azure:" + property, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Service_uris_with_a_managed_identity_are_a_valid_cloud_configuration()
    {
        var options = new AzureStorageOptions
        {
            BlobServiceUri = new Uri("https://a.blob.core.windows.net/"),
            QueueServiceUri = new Uri("https://a.queue.core.windows.net/"),
            TableServiceUri = new Uri("https://a.table.core.windows.net/"),
            ManagedIdentityClientId = "00000000-0000-0000-0000-000000000001",
        };
        options.Validate();
        var clients = AzureClients.Create(options);
        Assert.Equal(new Uri("https://a.blob.core.windows.net/"), clients.Blobs.Uri);
        Assert.NotNull(clients.Credential); // DefaultAzureCredential: no keys in configuration
    }
}

[Collection(AzuriteCollection.Name)]
public sealed class FunctionsWiringTests(AzuriteFixture azurite)
{
    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddLogging().AddMailCloud(configuration).BuildServiceProvider();
    }

    [Fact]
    public async Task The_trigger_connection_alone_configures_every_function_as_the_worker_activates_them()
    {
        await using var services = Build(new() { [QueueNames.Connection] = azurite.ConnectionString });
        Assert.NotNull(ActivatorUtilities.CreateInstance<InboundFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<OutboundFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<PoisonFunction>(services));
        Assert.NotNull(ActivatorUtilities.CreateInstance<MaintenanceFunction>(services));
        var queues = services.GetRequiredService<FunctionQueues>();
        Assert.Equal(QueueNames.Inbound, queues.Inbound.Name);
        Assert.Equal(QueueNames.InboundPoison, Assert.IsType<StorageQueueMessageQueue>(queues.Inbound).DeadLetterQueue.Name);
        Assert.Equal(QueueNames.Outbound, queues.Outbound.Name);
    }

    [Fact]
    public async Task A_quarantine_verdict_holds_the_message_for_an_operator_and_the_timer_applies_retention()
    {
        var settings = new Dictionary<string, string?>
        {
            [QueueNames.Connection] = azurite.ConnectionString,
            ["Azure:MessageContainer"] = AzuriteFixture.UniqueName("msgs"),
            ["Azure:MailboxTable"] = AzuriteFixture.UniqueName("mbx"),
            ["Azure:StateTable"] = AzuriteFixture.UniqueName("state"),
            ["Functions:QuarantineRetention"] = "00:00:01",
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        await using var services = new ServiceCollection().AddLogging().AddMailCloud(configuration)
            .AddSingleton<IInboundCheck>(new HoldEverything()).BuildServiceProvider();
        var directory = services.GetRequiredService<MailDirectory>();
        await directory.AddDomainAsync("example.org");
        await directory.SetUserAsync("bob@example.org", "secret");
        var mailboxes = services.GetRequiredService<IMailboxStore>();
        await mailboxes.EnsureUserMailboxesAsync("bob@example.org");
        var messages = services.GetRequiredService<IMessageStore>();
        var envelope = TestData.Envelope() with { MessageRef = "m" + Guid.NewGuid().ToString("N") };
        await using (var writer = await messages.CreateAsync(envelope.MessageRef))
        {
            await writer.WriteAsync("From: alice@example.net\r\nSubject: held\r\n\r\nbody\r\n"u8.ToArray());
            await writer.CommitAsync();
        }

        var result = await services.GetRequiredService<InboundStage>().ProcessAsync(envelope);

        Assert.Equal(Disposition.Quarantine, result.Disposition);
        Assert.Empty(await mailboxes.ListMessagesAsync("bob@example.org", "INBOX"));
        Assert.Empty(await mailboxes.ListMessagesAsync("bob@example.org", "Junk"));
        var quarantine = new QuarantineStore(services.GetRequiredService<IStateStore>());
        var held = await quarantine.GetAsync(envelope.QueueId);
        Assert.NotNull(held);
        Assert.Equal("held by the test", held.Reason);

        // Past the (one second) retention the maintenance timer deletes the entry and its raw message.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var maintenance = ActivatorUtilities.CreateInstance<MaintenanceFunction>(services);
        await maintenance.RunOnceAsync(default);
        Assert.Null(await quarantine.GetAsync(envelope.QueueId));
        Assert.False(await messages.ExistsAsync(envelope.MessageRef));
    }

    private sealed class HoldEverything : IInboundCheck
    {
        public string Name => "hold";

        public Task RunAsync(InboundContext context, CancellationToken cancellationToken)
        {
            context.Verdict.Require(Disposition.Quarantine, "held by the test");
            return Task.CompletedTask;
        }
    }

    [Fact]
    public void No_storage_setting_fails_at_startup_naming_it()
    {
        var e = Assert.Throws<AzureConfigurationException>(() => Build(new()));
        Assert.Contains("Azure:BlobServiceUri", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_functions_settings_fail_at_startup_naming_them()
    {
        var e = Assert.Throws<ArgumentException>(() => Build(new() { [QueueNames.Connection] = azurite.ConnectionString, ["Functions:MaxDeliveries"] = "0" }));
        Assert.Contains("Functions:MaxDeliveries", e.Message, StringComparison.Ordinal);
    }
}
