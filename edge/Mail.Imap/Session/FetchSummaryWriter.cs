using Mail.Core.Listening;
using Mail.Core.Messages;
using Mail.Core.Ports;
using Mail.Imap.Messages;

namespace Mail.Imap.Session;

/// <summary>
/// The FETCH responses of the mail-client "sync" fetch (UID FLAGS RFC822.SIZE ENVELOPE over the whole mailbox,
/// <see cref="FetchRequest.OnlySummary"/>): each message needs only its record and header block, so batches of them
/// are read and formatted in parallel, then written in order. ENVELOPEs come from the in-memory cache, then the
/// on-disk cache, then the message's header.
/// </summary>
internal sealed class FetchSummaryWriter(LineConnection conn, IMessageStore messages, EnvelopeCache envelopes, MailboxCacheFile? diskCache, SelectedMailbox mailbox, bool utf8)
{
    private const int Batch = 64;

    /// <summary>Writes the responses of the messages at <paramref name="indexes"/> (0-based) in order;
    /// <paramref name="beforeFlags"/> runs before a response that shows a message's FLAGS.</summary>
    public async Task WriteAsync(List<int> indexes, IReadOnlyList<FetchItem> items, Action<MessageRecord> beforeFlags, CancellationToken ct)
    {
        var needsHeader = items.Any(i => i.Kind == FetchKind.Envelope);
        var flags = items.Any(i => i.Kind == FetchKind.Flags);
        for (var start = 0; start < indexes.Count; start += Batch)
        {
            var slice = indexes.GetRange(start, Math.Min(Batch, indexes.Count - start));
            // One on-disk cache query per batch, and batches small enough that the first lines need not wait for a
            // long query.
            var fromDisk = needsHeader ? LoadFromDisk(slice) : null;
            var lines = needsHeader
                ? await Task.WhenAll(slice.Select(i => CachedSummary(i + 1, RecordAt(i), items, fromDisk) ?? Task.Run(() => SummaryAsync(i + 1, RecordAt(i), items, ct), ct)))
                : slice.Select(i => Line(i + 1, RecordAt(i), items, null)).ToArray();
            for (var k = 0; k < lines.Length; k++)
            {
                if (flags) beforeFlags(RecordAt(slice[k]));
                conn.Write(lines[k]);
            }
            await conn.MaybeFlushAsync(ct);
        }
    }

    private MessageRecord RecordAt(int index) => mailbox.Records[mailbox.Uids[index]];

    /// <summary>After a restart the in-memory cache is empty: one query to the on-disk cache for the batch's misses.</summary>
    private Dictionary<string, string>? LoadFromDisk(List<int> slice)
    {
        if (diskCache is null) return null;
        var missing = new List<string>();
        foreach (var i in slice)
        {
            var messageRef = RecordAt(i).MessageRef;
            if (!envelopes.TryGet(messageRef, utf8, out _)) missing.Add(EnvelopeCache.Key(messageRef, utf8));
        }
        if (missing.Count == 0) return null;
        var found = diskCache.GetMany(missing);
        foreach (var (key, envelope) in found) envelopes.AddByKey(key, envelope);
        return found;
    }

    private Task<string>? CachedSummary(int seq, MessageRecord record, IReadOnlyList<FetchItem> items, Dictionary<string, string>? fromDisk) =>
        envelopes.TryGet(record.MessageRef, utf8, out var envelope)
        || (fromDisk is not null && fromDisk.TryGetValue(EnvelopeCache.Key(record.MessageRef, utf8), out envelope))
            ? Task.FromResult(Line(seq, record, items, envelope))
            : null;

    private async Task<string> SummaryAsync(int seq, MessageRecord record, IReadOnlyList<FetchItem> items, CancellationToken ct)
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
        return Line(seq, record, items, envelope);
    }

    private string Line(int seq, MessageRecord record, IReadOnlyList<FetchItem> items, string? envelope)
    {
        var parts = new List<string>(items.Count);
        foreach (var item in items)
            parts.Add(FetchResponseWriter.RecordItem(item.Kind, record, mailbox) ?? "ENVELOPE " + envelope);
        return $"* {seq} FETCH ({string.Join(' ', parts)})\r\n";
    }
}
