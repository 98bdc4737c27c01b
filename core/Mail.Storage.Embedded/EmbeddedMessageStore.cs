using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// The embedded message store as the pipeline and the IMAP gateway see it: originals accepted by the SMTP edge
/// live in the spool's segments (<see cref="SegmentMessageStore"/>, written by the edge directly), and the copies
/// delivered to mailboxes in segments of their own (<paramref name="copies"/>, written here), or, from data
/// directories written before those existed and from a process that does not own the copies' segments, files
/// (<see cref="FileMessageStore"/>). Readers do not care where a message lives: lookups try the segments' in-memory
/// indexes first, then the files.
/// </summary>
/// <param name="copies">Where new copies go. Null: files, as before the copies had segments. A copy is appended to a
/// segment only by the process that owns them (the server): another process (the `mail` CLI releasing a quarantined
/// message next to a running server) writes a file, which the server's readers find, where a record it appended
/// would be missing from the server's in-memory index.</param>
public sealed class EmbeddedMessageStore(FileMessageStore files, SegmentMessageStore originals, SegmentMessageStore? copies = null) : IMessageStore
{
    public FileMessageStore Files => files;

    public SegmentMessageStore Originals => originals;

    public SegmentMessageStore? Copies => copies;

    public Task<IMessageWriter> CreateAsync(string id, CancellationToken cancellationToken = default)
    {
        if (copies is { IsOwner: true }) return copies.CreateAsync(id, cancellationToken);
        return files.CreateAsync(id, cancellationToken);
    }

    // The caller owns the stream returned.
#pragma warning disable CA2000
    public async Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken = default) =>
        await originals.OpenReadAsync(id, cancellationToken)
        ?? (copies is null ? null : await copies.OpenReadAsync(id, cancellationToken))
        ?? await files.OpenReadAsync(id, cancellationToken);
#pragma warning restore CA2000

    public Task<bool> ExistsAsync(string id, CancellationToken cancellationToken = default) => Task.FromResult(Exists(id));

    /// <summary>Whether the message is in the segments or the files: the look-ups are synchronous underneath (in-memory
    /// indexes, a stat), so callers that must answer synchronously, such as the inbound spool's <c>keep</c>
    /// check at load, use this rather than blocking on <see cref="ExistsAsync"/>.</summary>
    public bool Exists(string id) => originals.Exists(id) || (copies?.Exists(id) ?? false) || files.Exists(id);

    /// <summary>Deletes the message where it lives. An id a segment holds (nearly every original and copy) is
    /// deleted there alone: the files are asked only for an id no segment knows, so deleting a delivered original
    /// costs no failed unlink in <c>messages/</c>.</summary>
    public async Task DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        if (originals.Exists(id))
        {
            await originals.DeleteAsync(id, cancellationToken);
            return;
        }
        if (copies is not null && copies.Exists(id))
        {
            await copies.DeleteAsync(id, cancellationToken);
            return;
        }
        await files.DeleteAsync(id, cancellationToken);
    }
}
