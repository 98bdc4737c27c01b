using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// The embedded message store as the pipeline and the IMAP gateway see it: originals accepted by the SMTP edge
/// live in the spool's segments (<see cref="SegmentMessageStore"/>, written by the edge directly), and the copies
/// delivered to mailboxes are files (<see cref="FileMessageStore"/>, written here). Readers do not care where a
/// message lives: lookups try the segments' in-memory index first, then the files.
/// </summary>
public sealed class EmbeddedMessageStore(FileMessageStore files, SegmentMessageStore originals) : IMessageStore
{
    public FileMessageStore Files => files;

    public SegmentMessageStore Originals => originals;

    public Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default) => files.CreateAsync(id, cancellationToken);

    public async Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default) =>
        await originals.OpenReadAsync(id, cancellationToken) ?? await files.OpenReadAsync(id, cancellationToken);

    public Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default) => Task.FromResult(Exists(id));

    /// <summary>Whether the message is in the segments or the files: both look-ups are synchronous underneath (an
    /// in-memory index, a stat), so callers that must answer synchronously, such as the inbound spool's <c>keep</c>
    /// check at load, use this rather than blocking on <see cref="ExistsAsync"/>.</summary>
    public bool Exists(string id) => originals.Exists(id) || files.Exists(id);

    public async Task DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        await originals.DeleteAsync(id, cancellationToken);
        await files.DeleteAsync(id, cancellationToken);
    }
}
