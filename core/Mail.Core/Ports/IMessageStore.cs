namespace Mail.Core.Ports;

/// <summary>
/// Raw RFC 5322 messages by id. Messages are immutable once committed: a writer streams the
/// bytes in, and only <see cref="IMessageWriter.CommitAsync"/> makes them durable and visible.
/// Embedded: files, fsync'd. Cloud: Azure block blobs.
/// </summary>
public interface IMessageStore
{
    /// <summary>Starts a new message. Disposing the writer without committing discards it.</summary>
    Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Opens a committed message for reading; null when there is no such message.</summary>
    Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default);

    Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Deletes a message; deleting a missing message is not an error (idempotent).</summary>
    Task DeleteAsync(string id, CancellationToken cancellationToken = default);
}

/// <summary>A message being written. Not thread-safe: one writer, one producer.</summary>
public interface IMessageWriter : IAsyncDisposable
{
    string Id { get; }

    /// <summary>Octets written so far.</summary>
    long Length { get; }

    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes the message durable (flushed to stable storage) and visible under its id.
    /// Committing an id that already holds a message with the same content is a no-op.
    /// </summary>
    Task<StoredMessage> CommitAsync(CancellationToken cancellationToken = default);
}

/// <param name="Sha256">Lower-case hex SHA-256 of the content.</param>
public sealed record StoredMessage(string Id, long Size, string Sha256);
