using Azure.Storage.Blobs.Specialized;
using System.Security.Cryptography;
using Mail.Storage.Azure;

namespace Mail.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class BlobMessageStoreTests(AzuriteFixture azurite)
{
    private BlobMessageStore NewStore(int blockSize = 1024) =>
        new(azurite.Blobs.GetBlobContainerClient(AzuriteFixture.UniqueName("msg")), blockSize);

    private static byte[] Bytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task Streams_in_blocks_and_reads_back_the_same_bytes_with_their_hash()
    {
        var store = NewStore(blockSize: 1024);
        var data = Bytes(10_000, 1);
        await using (var w = await store.CreateAsync("a/1"))
        {
            // Odd chunk sizes so blocks fill across writes.
            for (var i = 0; i < data.Length; i += 777)
                await w.WriteAsync(data.AsMemory(i, Math.Min(777, data.Length - i)));
            Assert.Equal(data.Length, w.Length);
            var stored = await w.CommitAsync();
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), stored.Sha256);
            Assert.Equal(data.Length, stored.Size);
        }
        var blocks = (await store.Container.GetBlockBlobClient("a/1").GetBlockListAsync()).Value;
        Assert.Equal(10, blocks.CommittedBlocks.Count());
        var props = (await store.Container.GetBlobClient("a/1").GetPropertiesAsync()).Value;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), props.Metadata[BlobMessageStore.Sha256Metadata]);

        await using var read = await store.OpenReadAsync("a/1");
        Assert.NotNull(read);
        using var ms = new MemoryStream();
        await read.CopyToAsync(ms);
        Assert.Equal(data, ms.ToArray());
    }

    [Fact]
    public async Task Uncommitted_message_is_invisible_and_missing_reads_are_null()
    {
        var store = NewStore();
        await using (var w = await store.CreateAsync("x"))
            await w.WriteAsync(Bytes(3000, 2));
        Assert.False(await store.ExistsAsync("x"));
        Assert.Null(await store.OpenReadAsync("x"));
        await store.DeleteAsync("x"); // missing: not an error
    }

    [Fact]
    public async Task Committed_message_is_immutable_same_content_is_a_no_op_other_content_is_refused()
    {
        var store = NewStore();
        var data = Bytes(2500, 3);
        await Commit(store, "m", data);
        var again = await Commit(store, "m", data);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), again.Sha256);

        await Assert.ThrowsAsync<InvalidOperationException>(() => Commit(store, "m", Bytes(2500, 4)));
        await using var read = await store.OpenReadAsync("m");
        using var ms = new MemoryStream();
        await read!.CopyToAsync(ms);
        Assert.Equal(data, ms.ToArray());

        await store.DeleteAsync("m");
        Assert.False(await store.ExistsAsync("m"));
    }

    [Fact]
    public async Task Empty_message_commits()
    {
        var store = NewStore();
        var stored = await Commit(store, "empty", []);
        Assert.Equal(0, stored.Size);
        Assert.True(await store.ExistsAsync("empty"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("../x")]
    [InlineData("a//b")]
    public async Task Bad_ids_are_refused(string id) =>
        await Assert.ThrowsAsync<ArgumentException>(() => NewStore().CreateAsync(id));

    private static async Task<Mail.Core.Ports.StoredMessage> Commit(BlobMessageStore store, string id, byte[] data)
    {
        await using var w = await store.CreateAsync(id);
        await w.WriteAsync(data);
        return await w.CommitAsync();
    }
}
