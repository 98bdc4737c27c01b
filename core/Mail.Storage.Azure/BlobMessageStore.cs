using System.Buffers;
using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Mail.Core.Ports;
using Mail.Core.Threading;

namespace Mail.Storage.Azure;

/// <summary>
/// Raw messages as block blobs. A writer stages blocks as data arrives (at most one block is buffered, so a
/// large message is never whole in memory) and commits the block list on <see cref="IMessageWriter.CommitAsync"/>
/// with If-None-Match: * — a committed blob is never overwritten. The SHA-256 of the content is kept in the blob's
/// metadata ("sha256"); committing the same id again with the same hash is a no-op, a different hash is an error.
/// </summary>
public sealed class BlobMessageStore : IMessageStore
{
    public const string Sha256Metadata = "sha256";
    public const int DefaultBlockSize = 4 * 1024 * 1024;

    private readonly BlobContainerClient _container;
    private readonly int _blockSize;
    private readonly CreateOnce _created;

    public BlobMessageStore(BlobContainerClient container, int blockSize = DefaultBlockSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1024);
        _container = container;
        _blockSize = blockSize;
        // Create the container once per process; after that every call goes straight to the blob.
        _created = new CreateOnce(async ct =>
        {
            try
            {
                await _container.CreateIfNotExistsAsync(cancellationToken: ct);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
                // Created concurrently by another instance (or being deleted): the next call will tell.
            }
        });
    }

    public BlobContainerClient Container => _container;

    public async Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default)
    {
        ValidateId(id);
        await EnsureContainerAsync(cancellationToken);
        return new Writer(_container.GetBlockBlobClient(id), id, _blockSize);
    }

    /// <summary>
    /// A seekable stream with a Length (range reads of 4 MiB, so a large message is not downloaded whole): MimeKit
    /// parses it persistently and the inbound stage reads sizes from it. It refuses to read on if the blob changed.
    /// </summary>
    public async Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default)
    {
        ValidateId(id);
        await EnsureContainerAsync(cancellationToken);
        try
        {
            return await _container.GetBlobClient(id).OpenReadAsync(new BlobOpenReadOptions(allowModifications: false), cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default)
    {
        ValidateId(id);
        await EnsureContainerAsync(cancellationToken);
        return (await _container.GetBlobClient(id).ExistsAsync(cancellationToken)).Value;
    }

    public async Task DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        ValidateId(id);
        await EnsureContainerAsync(cancellationToken);
        await _container.GetBlobClient(id).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: cancellationToken);
    }

    private Task EnsureContainerAsync(CancellationToken cancellationToken) => _created.EnsureAsync(cancellationToken);

    private static void ValidateId(string id)
    {
        if (string.IsNullOrWhiteSpace(id) || id.Length > 1024 || id.Contains('\\') || id.Split('/').Any(s => s is "" or "." or ".."))
            throw new ArgumentException($"Not a valid message id: '{id}'", nameof(id));
    }

    private sealed class Writer(BlockBlobClient blob, string id, int blockSize) : IMessageWriter
    {
        // Block ids must all have the same length within a blob; a per-writer prefix keeps two writers that race
        // on the same id from mixing their uncommitted blocks.
        private readonly byte[] _writerId = Guid.NewGuid().ToByteArray();
        private readonly List<string> _blockIds = [];
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(blockSize);
        private int _buffered;
        private bool _committed;

        public string Id => id;

        public long Length { get; private set; }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            var buffer = _buffer ?? throw new ObjectDisposedException(nameof(Writer));
            if (_committed) throw new InvalidOperationException("The message is already committed.");
            _hash.AppendData(data.Span);
            Length += data.Length;
            while (data.Length > 0)
            {
                var n = Math.Min(blockSize - _buffered, data.Length);
                data.Span[..n].CopyTo(buffer.AsSpan(_buffered));
                _buffered += n;
                data = data[n..];
                if (_buffered == blockSize) await StageAsync(cancellationToken);
            }
        }

        public async Task<StoredMessage> CommitAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_buffer is null, this);
            if (_committed) throw new InvalidOperationException("The message is already committed.");
            if (_buffered > 0) await StageAsync(cancellationToken);
            var sha = Convert.ToHexStringLower(_hash.GetHashAndReset());
            var options = new CommitBlockListOptions
            {
                HttpHeaders = new BlobHttpHeaders { ContentType = "message/rfc822" },
                Metadata = new Dictionary<string, string> { [Sha256Metadata] = sha },
                Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
            };
            try
            {
                await blob.CommitBlockListAsync(_blockIds, options, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                // Already committed (by us before a retry, or by another writer): same content is a no-op.
                var existing = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
                existing.Metadata.TryGetValue(Sha256Metadata, out var existingSha);
                if (!string.Equals(existingSha, sha, StringComparison.OrdinalIgnoreCase) || existing.ContentLength != Length)
                    throw new InvalidOperationException($"Message {id} already exists with different content (sha256 {existingSha}, ours {sha}); messages are immutable.", e);
            }
            _committed = true;
            return new StoredMessage(id, Length, sha);
        }

        private async Task StageAsync(CancellationToken cancellationToken)
        {
            var blockId = new byte[_writerId.Length + 4];
            _writerId.CopyTo(blockId, 0);
            BitConverter.TryWriteBytes(blockId.AsSpan(_writerId.Length), _blockIds.Count);
            var base64 = Convert.ToBase64String(blockId);
            using (var ms = new MemoryStream(_buffer!, 0, _buffered, writable: false))
                await blob.StageBlockAsync(base64, ms, cancellationToken: cancellationToken);
            _blockIds.Add(base64);
            _buffered = 0;
        }

        public ValueTask DisposeAsync()
        {
            // Uncommitted blocks are garbage-collected by the service (after a week); nothing became visible.
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
            _hash.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
