using Mail.Core.Ports;
using Mail.Storage.Azure;
using Mail.Storage.Contracts;

namespace Mail.Azure.Tests;

// The shared contract suites (tests/Mail.Storage.Contracts) against the Azure adapters on Azurite.

[Collection(AzuriteCollection.Name)]
public sealed class BlobMessageStoreContractTests(AzuriteFixture azurite) : MessageStoreContract
{
    protected override Task<IMessageStore> CreateStoreAsync() =>
        Task.FromResult<IMessageStore>(new BlobMessageStore(azurite.Blobs.GetBlobContainerClient(AzuriteFixture.UniqueName("c"))));
}

/// <summary>
/// The queue contract for Storage Queues, run test by test so that the two cases the service cannot do are left out
/// explicitly: Storage Queues can only peek visible messages, so <see cref="IMessageQueue.ListAsync"/> cannot show
/// envelopes that are in flight or scheduled (documented on <see cref="StorageQueueMessageQueue"/>). Every other
/// [Fact] of the contract, including ones added later, runs here.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageQueueContractTests(AzuriteFixture azurite)
{
    private static readonly string[] CannotListInvisible =
    [
        nameof(MessageQueueContract.List_shows_ready_and_in_flight_envelopes),
        nameof(MessageQueueContract.Scheduled_envelope_is_invisible_until_not_before_and_listed_as_scheduled),
    ];

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var m in typeof(MessageQueueContract).GetMethods())
            if (m.GetCustomAttributes(typeof(FactAttribute), true).Length > 0 && !CannotListInvisible.Contains(m.Name))
                data.Add(m.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Contract(string test)
    {
        var runner = new StorageQueueContract(azurite);
        var method = typeof(MessageQueueContract).GetMethod(test)!;
        await (Task)method.Invoke(runner, null)!;
    }

    [Fact]
    public void Only_the_listing_cases_are_left_out()
    {
        var facts = typeof(MessageQueueContract).GetMethods().Where(m => m.GetCustomAttributes(typeof(FactAttribute), true).Length > 0).Select(m => m.Name).ToList();
        Assert.All(CannotListInvisible, name => Assert.Contains(name, facts));
        Assert.Equal(facts.Count - CannotListInvisible.Length, Cases().Count);
    }

    [Fact]
    public async Task Scheduled_envelope_is_invisible_until_not_before()
    {
        // The scheduling half of the excluded contract case.
        var queue = await new StorageQueueContract(azurite).CreateAsync();
        var sent = MessageQueueContract.SampleEnvelope();
        var notBefore = DateTimeOffset.UtcNow.AddSeconds(2);
        await queue.SendAsync(sent, notBefore);
        Assert.Empty(await queue.ReceiveAsync(10, TimeSpan.FromMinutes(1)));
        QueueLease? lease = null;
        for (var i = 0; i < 150 && lease is null; i++)
        {
            await Task.Delay(100);
            lease = (await queue.ReceiveAsync(1, TimeSpan.FromMinutes(1))).SingleOrDefault();
        }
        Assert.NotNull(lease);
        Assert.Equal(sent.QueueId, lease.Envelope.QueueId);
        Assert.True(DateTimeOffset.UtcNow >= notBefore.AddMilliseconds(-500), "received before notBefore");
    }
}

/// <summary>Not public, so xunit does not run its inherited facts directly; <see cref="StorageQueueContractTests"/> does.</summary>
internal sealed class StorageQueueContract(AzuriteFixture azurite) : MessageQueueContract
{
    public Task<IMessageQueue> CreateAsync() => CreateQueueAsync();

    protected override Task<IMessageQueue> CreateQueueAsync() =>
        Task.FromResult<IMessageQueue>(new StorageQueueMessageQueue(azurite.Queues.GetQueueClient(AzuriteFixture.UniqueName("q"))));
}

[Collection(AzuriteCollection.Name)]
public sealed class TableMailboxStoreContractTests(AzuriteFixture azurite) : MailboxStoreContract
{
    protected override Task<IMailboxStore> CreateStoreAsync() =>
        Task.FromResult<IMailboxStore>(new TableMailboxStore(azurite.Tables, AzuriteFixture.UniqueName("mbx")));

    protected override Task<(IMailboxStore Store, IMessageStore Messages)> CreateStoreWithMessagesAsync()
    {
        var blobs = new BlobMessageStore(azurite.Blobs.GetBlobContainerClient(AzuriteFixture.UniqueName("c")));
        return Task.FromResult<(IMailboxStore, IMessageStore)>((new TableMailboxStore(azurite.Tables, AzuriteFixture.UniqueName("mbx"), messages: blobs), blobs));
    }
}

[Collection(AzuriteCollection.Name)]
public sealed class TableStateStoreContractTests(AzuriteFixture azurite) : StateStoreContract
{
    protected override Task<IStateStore> CreateStoreAsync() =>
        Task.FromResult<IStateStore>(new TableStateStore(azurite.Tables.GetTableClient(AzuriteFixture.UniqueName("st"))));
}
