using Mail.Core.Listening;
using Mail.Core.Messages;
using Mail.Core.Ports;
using Mail.Imap.Messages;

namespace Mail.Imap.Session;

/// <summary>
/// The FETCH responses of the mail-client "sync" fetch (UID FLAGS RFC822.SIZE ENVELOPE over the whole mailbox,
/// <see cref="FetchRequest.OnlySummary"/>): each message needs only its record and header block, so batches of them
/// are read and formatted in parallel, then written in order. ENVELOPEs come from the in-memory cache, then the
/// on-disk cache, then the message's header; each response is written straight into the connection's buffer.
/// </summary>
internal sealed class FetchSummaryWriter(LineConnection conn, IMessageStore messages, EnvelopeCache envelopes, MailboxCacheFile? diskCache, SelectedMailbox mailbox, bool utf8)
{
    private const int Batch = 64;

    /// <summary>Writes the responses of the messages at <paramref name="indexes"/> (0-based) in order;
    /// <paramref name="beforeFlags"/> runs before a response that shows a message's FLAGS.</summary>
    public async Task WriteAsync(List<int> indexes, IReadOnlyList<FetchItem> items, Action<MessageRecord> beforeFlags, CancellationToken ct)
    {
        var needsEnvelope = items.Any(i => i.Kind == FetchKind.Envelope);
        var flags = items.Any(i => i.Kind == FetchKind.Flags);
        var records = new MessageRecord[Batch];
        var cached = new CachedText[Batch];
        var parsed = new Task<string>?[Batch];
        for (var start = 0; start < indexes.Count; start += Batch)
        {
            var count = Math.Min(Batch, indexes.Count - start);
            // The ENVELOPEs neither cache holds are read from their messages' headers in parallel, a batch at a time,
            // small enough that the first lines need not wait for long.
            for (var k = 0; k < count; k++)
            {
                var record = records[k] = RecordAt(indexes[start + k]);
                parsed[k] = !needsEnvelope || TryCached(record, out cached[k]) ? null : Task.Run(() => EnvelopeAsync(record, ct), ct);
            }
            for (var k = 0; k < count; k++)
            {
                if (parsed[k] is { } parsing) cached[k] = new CachedText(await parsing);
                if (flags) beforeFlags(records[k]);
                WriteResponse(indexes[start + k] + 1, records[k], items, cached[k].Span);
            }
            await conn.MaybeFlushAsync(ct);
        }
    }

    private MessageRecord RecordAt(int index) => mailbox.Records[mailbox.Uids[index]];

    /// <summary>The ENVELOPE from the in-memory cache, else from the on-disk cache (after a restart the in-memory
    /// one is empty; the file's items, once read, are held as they are and written from there).</summary>
    private bool TryCached(MessageRecord record, out CachedText envelope)
    {
        if (envelopes.TryGet(record.MessageRef, utf8, out var text))
        {
            envelope = new CachedText(text);
            return true;
        }
        envelope = default;
        return diskCache is not null && diskCache.TryGet(EnvelopeCache.Key(record.MessageRef, utf8), out envelope);
    }

    private async Task<string> EnvelopeAsync(MessageRecord record, CancellationToken ct)
    {
        byte[] header;
        bool missing;
        await using (var stream = await messages.OpenReadAsync(record.MessageRef, ct))
        {
            missing = stream is null;
            header = stream is null ? [] : await HeaderBlock.ReadAsync(stream, 1024 * 1024, ct);
        }
        var envelope = Structure.Envelope(header, utf8);
        if (!missing)
        {
            envelopes.Add(record.MessageRef, utf8, envelope);
            diskCache?.Add(EnvelopeCache.Key(record.MessageRef, utf8), envelope);
        }
        return envelope;
    }

    private void WriteResponse(int seq, MessageRecord record, IReadOnlyList<FetchItem> items, ReadOnlySpan<char> envelope)
    {
        conn.Write($"* {seq} FETCH (");
        for (var k = 0; k < items.Count; k++)
        {
            if (k > 0) conn.Write(" ");
            if (FetchResponseWriter.RecordItem(items[k].Kind, record, mailbox) is { } text)
            {
                conn.Write(text);
                continue;
            }
            conn.Write("ENVELOPE ");
            conn.Write(envelope);
        }
        conn.Write(")\r\n");
    }
}
