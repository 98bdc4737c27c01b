using System.Buffers;
using System.Security.Cryptography;
using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// Raw messages as files, one per id, in one directory. A writer streams into a hidden temp file in the
/// same directory (same file system, so the rename is atomic). Commit waits for the shared
/// <see cref="DurabilityBarrier"/> twice: once for the data, then, after the rename to the id, once for the rename.
/// Data before name, as fsync-then-rename would give, so a crash can never leave a final name whose content did not
/// reach the disk (the pipeline reuses an existing copy on redelivery); but each barrier is one syncfs shared with
/// every other session writing meanwhile instead of an fsync per file. Readers only ever see complete messages.
/// Committing an id that exists replaces it atomically (last commit wins; same content is a no-op in effect).
/// </summary>
public sealed class FileMessageStore : IMessageStore
{
    private const string TempPrefix = ".tmp-";
    private readonly string _directory;

    public FileMessageStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _directory = Path.GetFullPath(directory);
        Directory.CreateDirectory(_directory);
        RemoveStaleTempFiles();
    }

    public string Root => _directory;

    public Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default)
    {
        var final = PathOf(id);
        var tmp = Path.Combine(_directory, TempPrefix + Guid.NewGuid().ToString("N"));
        // The returned writer owns the stream: it closes it on commit or abort.
#pragma warning disable CA2000
        // Unbuffered: the writer buffers in a pooled array (a FileStream buffer was a fresh 64 KiB per message).
        var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.None);
#pragma warning restore CA2000
        return Task.FromResult<IMessageWriter>(new Writer(this, id, final, tmp, stream));
    }

    public Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOnlyFile.Open(PathOf(id)));

    public Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default) => Task.FromResult(Exists(id));

    /// <summary>Whether the message file is there (one stat), for callers that must answer synchronously.</summary>
    public bool Exists(string id) => File.Exists(PathOf(id));

    public Task DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        File.Delete(PathOf(id));
        return Task.CompletedTask;
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless the id is a plain, safe file name.</summary>
    public static void ValidateId(string id)
    {
        if (!IsValidId(id)) throw new ArgumentException($"Invalid message id '{id}': use 1-200 characters of A-Z a-z 0-9 . _ - + = @, not starting with '.'", nameof(id));
    }

    public static bool IsValidId(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 200 || id[0] == '.') return false;
        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+' or '=' or '@')) return false;
        }
        return true;
    }

    private string PathOf(string id)
    {
        ValidateId(id);
        return Path.Combine(_directory, id);
    }

    private void RemoveStaleTempFiles()
    {
        // A crash mid-write leaves a temp file nobody will commit. Only old ones are removed: another
        // process (or instance) on the same directory may be writing a fresh one right now.
        var cutoff = DateTime.UtcNow - TimeSpan.FromHours(1);
        foreach (var f in System.IO.Directory.EnumerateFiles(_directory, TempPrefix + "*"))
        {
            if (File.GetLastWriteTimeUtc(f) < cutoff) DurableFile.TryDelete(f);
        }
    }

    private sealed class Writer(FileMessageStore store, string id, string finalPath, string tempPath, FileStream stream) : IMessageWriter
    {
        private const int BufferSize = 64 * 1024;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // The header fields come one write each: gathered here, a copy of a few KiB is one write(2).
        private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        private int _buffered;
        private bool _done;

        public string Id => id;

        public long Length { get; private set; }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            _hash.AppendData(data.Span);
            Length += data.Length;
            var buffer = _buffer!;
            if (_buffered + data.Length > buffer.Length)
            {
                await FlushBufferAsync(cancellationToken);
                if (data.Length >= buffer.Length)
                {
                    await stream.WriteAsync(data, cancellationToken);
                    return;
                }
            }
            data.Span.CopyTo(buffer.AsSpan(_buffered));
            _buffered += data.Length;
        }

        private async ValueTask FlushBufferAsync(CancellationToken cancellationToken)
        {
            if (_buffered == 0) return;
            await stream.WriteAsync(_buffer.AsMemory(0, _buffered), cancellationToken);
            _buffered = 0;
        }

        public async Task<StoredMessage> CommitAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            await FlushBufferAsync(cancellationToken);
            ReturnBuffer();
            if (DurabilityBarrier.SyncsFileSystem)
            {
                await stream.DisposeAsync();
                await DurabilityBarrier.Shared.WhenDurableAsync(store._directory);
            }
            else
            {
                stream.Flush(flushToDisk: true);
                await stream.DisposeAsync();
            }
            File.Move(tempPath, finalPath, overwrite: true);
            _done = true;
            await DurabilityBarrier.Shared.WhenDurableAsync(store._directory);
            var sha = Convert.ToHexStringLower(_hash.GetHashAndReset());
            _hash.Dispose();
            return new StoredMessage(id, Length, sha);
        }

        private void ReturnBuffer()
        {
            if (_buffer is null) return;
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }

        public async ValueTask DisposeAsync()
        {
            ReturnBuffer();
            if (_done) return;
            _done = true;
            _hash.Dispose();
            await stream.DisposeAsync();
            DurableFile.TryDelete(tempPath);
        }
    }
}
