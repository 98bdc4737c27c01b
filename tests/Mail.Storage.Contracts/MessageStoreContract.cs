using System.Security.Cryptography;
using System.Text;
using Mail.Core.Ports;
using Xunit;

namespace Mail.Storage.Contracts;

/// <summary>The documented behaviour of <see cref="IMessageStore"/>, for every adapter.</summary>
public abstract class MessageStoreContract
{
    /// <summary>A store to test; it may be shared with other tests (ids are unique per test).</summary>
    protected abstract Task<IMessageStore> CreateStoreAsync();

    protected static string NewId() => "m-" + Guid.NewGuid().ToString("N");

    private static async Task<byte[]> ReadAllAsync(Stream s)
    {
        using var ms = new MemoryStream();
        await s.CopyToAsync(ms);
        return ms.ToArray();
    }

    [Fact]
    public async Task Committed_message_reads_back_with_size_and_sha256()
    {
        var store = await CreateStoreAsync();
        var id = NewId();
        var bytes = Encoding.ASCII.GetBytes("Subject: hi\r\n\r\nbody\r\n");
        StoredMessage stored;
        await using (var w = await store.CreateAsync(id))
        {
            await w.WriteAsync(bytes.AsMemory(0, 5));
            await w.WriteAsync(bytes.AsMemory(5));
            Assert.Equal(bytes.Length, w.Length);
            Assert.Equal(id, w.Id);
            stored = await w.CommitAsync();
        }
        Assert.Equal(id, stored.Id);
        Assert.Equal(bytes.Length, stored.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), stored.Sha256);
        Assert.True(await store.ExistsAsync(id));
        await using var s = await store.OpenReadAsync(id);
        Assert.NotNull(s);
        Assert.Equal(bytes, await ReadAllAsync(s));
    }

    [Fact]
    public async Task Uncommitted_message_is_invisible_and_discarded_on_dispose()
    {
        var store = await CreateStoreAsync();
        var id = NewId();
        await using (var w = await store.CreateAsync(id))
        {
            await w.WriteAsync(Encoding.ASCII.GetBytes("partial"));
            Assert.False(await store.ExistsAsync(id));
            Assert.Null(await store.OpenReadAsync(id));
        }
        Assert.False(await store.ExistsAsync(id));
        Assert.Null(await store.OpenReadAsync(id));
    }

    [Fact]
    public async Task Missing_message_is_null_and_delete_is_idempotent()
    {
        var store = await CreateStoreAsync();
        var id = NewId();
        Assert.Null(await store.OpenReadAsync(id));
        Assert.False(await store.ExistsAsync(id));
        await store.DeleteAsync(id);
        await using (var w = await store.CreateAsync(id))
        {
            await w.WriteAsync(new byte[] { 1, 2, 3 });
            await w.CommitAsync();
        }
        await store.DeleteAsync(id);
        Assert.False(await store.ExistsAsync(id));
        await store.DeleteAsync(id);
    }

    [Fact]
    public async Task Committing_the_same_content_twice_is_harmless()
    {
        var store = await CreateStoreAsync();
        var id = NewId();
        var bytes = Encoding.ASCII.GetBytes("same content\r\n");
        var results = new List<StoredMessage>();
        for (var i = 0; i < 2; i++)
        {
            await using var w = await store.CreateAsync(id);
            await w.WriteAsync(bytes);
            results.Add(await w.CommitAsync());
        }
        Assert.Equal(results[0], results[1]);
        await using var s = await store.OpenReadAsync(id);
        Assert.Equal(bytes, await ReadAllAsync(s!));
    }

    [Fact]
    public async Task Large_message_streams_in_chunks()
    {
        var store = await CreateStoreAsync();
        var id = NewId();
        var chunk = new byte[64 * 1024];
        new Random(42).NextBytes(chunk);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        const int chunks = 80; // 5 MiB
        await using (var w = await store.CreateAsync(id))
        {
            for (var i = 0; i < chunks; i++)
            {
                chunk[0] = (byte)i;
                sha.AppendData(chunk);
                await w.WriteAsync(chunk);
            }
            var stored = await w.CommitAsync();
            Assert.Equal(chunks * (long)chunk.Length, stored.Size);
            Assert.Equal(Convert.ToHexStringLower(sha.GetHashAndReset()), stored.Sha256);
        }
        await using var s = await store.OpenReadAsync(id);
        var buffer = new byte[chunk.Length];
        long total = 0;
        int n;
        while ((n = await s!.ReadAsync(buffer)) > 0) total += n;
        Assert.Equal(chunks * (long)chunk.Length, total);
    }

    [Fact]
    public async Task Messages_are_independent()
    {
        var store = await CreateStoreAsync();
        var a = NewId();
        var b = NewId();
        foreach (var (id, text) in new[] { (a, "A"), (b, "B") })
        {
            await using var w = await store.CreateAsync(id);
            await w.WriteAsync(Encoding.ASCII.GetBytes(text));
            await w.CommitAsync();
        }
        await store.DeleteAsync(a);
        Assert.False(await store.ExistsAsync(a));
        await using var s = await store.OpenReadAsync(b);
        Assert.Equal("B"u8.ToArray(), await ReadAllAsync(s!));
    }
}
