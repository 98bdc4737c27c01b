using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using MimeKit;

namespace Mail.Imap.Session;

internal sealed partial class ImapSession
{
    /// <summary>Indexes (0-based) into the selected mailbox named by a sequence set of sequence numbers or UIDs.</summary>
    private List<int> Resolve(SequenceSet set, bool uid)
    {
        var sel = _selected!;
        var result = new List<int>();
        if (set.IsSearchResult)
        {
            // "$" means the same messages whether the command is a UID one or not (RFC 5182 2.1).
            for (var i = 0; i < sel.Uids.Count; i++)
                if (sel.SearchResult.Contains(sel.Uids[i])) result.Add(i);
            return result;
        }
        if (uid)
        {
            // Binary search per range: a client fetching one UID at a time in a big mailbox pays O(log n), not O(n).
            var indexes = new SortedSet<int>();
            foreach (var (lo, hi) in set.Ranges(sel.MaxUid))
            {
                var i = sel.Uids.BinarySearch(lo);
                if (i < 0) i = ~i;
                for (; i < sel.Uids.Count && sel.Uids[i] <= hi; i++) indexes.Add(i);
            }
            result.AddRange(indexes);
            return result;
        }
        var count = sel.Uids.Count;
        if (count == 0) return result;
        if (set.MaxExplicit(count) > count) throw new ImapParseException($"Message sequence number out of range (mailbox has {count} messages)");
        for (var i = 0; i < count; i++)
            if (set.Contains(i + 1, count)) result.Add(i);
        return result;
    }

    private async Task<string> FetchAsync(ArgReader r, bool uid, CancellationToken ct)
    {
        r.Space();
        var set = SequenceSet.Parse(r.SequenceSetText());
        r.Space();
        var items = FetchItem.ParseList(r);
        long? changedSince = null;
        var vanished = false;
        if (r.TrySpace())
        {
            r.Expect('(');
            do
            {
                var m = r.Atom().ToUpperInvariant();
                if (m == "VANISHED")
                {
                    vanished = true;
                    continue;
                }
                if (m != "CHANGEDSINCE") throw new ImapParseException($"Unknown FETCH modifier {m}");
                r.Space();
                changedSince = r.Number();
            } while (r.TrySpace());
            r.Expect(')');
            EnableCondStore();
        }
        r.ExpectEnd();
        // RFC 7162 3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE, once QRESYNC is enabled.
        if (vanished && (!uid || changedSince is null || !_qresync)) throw new ImapParseException("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
        if (items.Any(i => i.Kind == FetchKind.ModSeq)) EnableCondStore();
        var sel = _selected!;
        var indexes = Resolve(set, uid);
        if (vanished) await WriteFetchVanishedAsync(sel, set, changedSince!.Value, ct);
        // With QRESYNC every FETCH response carries the UID (RFC 7162 3.2.4).
        if ((uid || _qresync) && !items.Any(i => i.Kind == FetchKind.Uid)) items.Insert(0, new FetchItem(FetchKind.Uid));
        if (changedSince is not null && !items.Any(i => i.Kind == FetchKind.ModSeq)) items.Add(new FetchItem(FetchKind.ModSeq));
        if (changedSince is not null) indexes.RemoveAll(i => sel.Records[sel.Uids[i]].ModSeq <= changedSince);

        // A non-PEEK body fetch sets \Seen (RFC 9051 6.4.5); done up front in one store call.
        var seenSet = new HashSet<long>();
        if (!sel.ReadOnly && items.Any(i => i.Kind is FetchKind.Section or FetchKind.Binary && !i.Peek))
        {
            var unseen = indexes.Select(i => sel.Uids[i]).Where(u => !HasFlag(sel.Records[u], MessageFlags.Seen)).ToList();
            if (unseen.Count > 0)
            {
                var result = await Mailboxes.StoreFlagsAsync(_user, sel.Name, unseen, FlagChange.Add, [MessageFlags.Seen], null, ct);
                foreach (var c in result.Changed)
                {
                    sel.Put(c);
                    seenSet.Add(c.Uid);
                }
            }
        }
        if (seenSet.Count == 0 && items.All(i => i.Kind is FetchKind.Flags or FetchKind.Uid or FetchKind.InternalDate or FetchKind.Size or FetchKind.ModSeq or FetchKind.Envelope))
        {
            await WriteSummariesAsync(sel, indexes, items, ct);
            return uid ? "OK UID FETCH completed" : "OK FETCH completed";
        }
        // BODY/BODYSTRUCTURE need the whole MIME structure: from the on-disk cache when it has them, one query
        // per 64 messages, else parsed (and then cached).
        var structures = _diskCache is not null && items.Any(i => i.Kind is FetchKind.BodyStructure or FetchKind.Body)
            ? new Dictionary<string, string>(StringComparer.Ordinal)
            : null;
        for (var n = 0; n < indexes.Count; n++)
        {
            if (structures is not null && n % 64 == 0) LoadStructures(indexes.GetRange(n, Math.Min(64, indexes.Count - n)));
            var record = sel.Records[sel.Uids[indexes[n]]];
            await WriteFetchAsync(indexes[n] + 1, record, items, seenSet.Contains(record.Uid), structures, ct);
            await _conn.MaybeFlushAsync(ct);
        }
        return uid ? "OK UID FETCH completed" : "OK FETCH completed";

        void LoadStructures(List<int> chunk)
        {
            structures.Clear();
            var keys = new List<string>(chunk.Count * 2);
            foreach (var i in chunk)
            {
                var messageRef = sel.Records[sel.Uids[i]].MessageRef;
                foreach (var item in items)
                    if (item.Kind is FetchKind.BodyStructure or FetchKind.Body)
                        keys.Add(StructureKey(messageRef, item.Kind == FetchKind.BodyStructure, Utf8Names));
            }
            foreach (var (key, value) in _diskCache!.GetMany(keys)) structures[key] = value;
        }
    }

    /// <summary>On-disk cache key of a formatted BODYSTRUCTURE ("S") or BODY ("s"); envelope keys start with "u"/"a".</summary>
    private static string StructureKey(string messageRef, bool extensible, bool utf8) => (extensible ? "S" : "s") + EnvelopeCache.Key(messageRef, utf8);

    private async Task<string> StructureAsync(MessageAccess access, bool extensible, bool utf8, Dictionary<string, string>? cached, CancellationToken ct)
    {
        var key = StructureKey(access.Record.MessageRef, extensible, utf8);
        if (cached is not null && cached.TryGetValue(key, out var hit)) return hit;
        var structure = Structure.Body(await access.ParsedAsync(ct), extensible, utf8);
        if (!access.Missing) _diskCache?.Add(key, structure);
        return structure;
    }

    /// <summary>
    /// The mail-client "sync" fetch (UID FLAGS RFC822.SIZE ENVELOPE over the whole mailbox): each message needs only
    /// its header, so batches of them are read and formatted in parallel, then written in order.
    /// </summary>
    private async Task WriteSummariesAsync(SelectedMailbox sel, List<int> indexes, List<FetchItem> items, CancellationToken ct)
    {
        const int batch = 64;
        var needsHeader = items.Any(i => i.Kind == FetchKind.Envelope);
        var flags = items.Any(i => i.Kind == FetchKind.Flags);
        var utf8 = Utf8Names;
        for (var start = 0; start < indexes.Count; start += batch)
        {
            var slice = indexes.GetRange(start, Math.Min(batch, indexes.Count - start));
            // One on-disk cache query per batch, and batches small enough that the first lines need not wait for a
            // long query.
            var fromDisk = needsHeader ? LoadFromDisk(slice) : null;
            var lines = needsHeader
                ? await Task.WhenAll(slice.Select(i => CachedSummary(i + 1, sel.Records[sel.Uids[i]], fromDisk) ?? Task.Run(() => SummaryAsync(i + 1, sel.Records[sel.Uids[i]]), ct)))
                : slice.Select(i => SummaryLine(i + 1, sel.Records[sel.Uids[i]], null)).ToArray();
            for (var k = 0; k < lines.Length; k++)
            {
                if (flags) AnnounceKeywords(sel.Records[sel.Uids[slice[k]]]);
                _conn.Write(lines[k]);
            }
            await _conn.MaybeFlushAsync(ct);
        }

        // After a restart the in-memory cache is empty: one query to the on-disk cache for the batch's misses.
        Dictionary<string, string>? LoadFromDisk(List<int> slice)
        {
            if (_diskCache is null) return null;
            var missing = new List<string>();
            foreach (var i in slice)
            {
                var messageRef = sel.Records[sel.Uids[i]].MessageRef;
                if (!_envelopes.TryGet(messageRef, utf8, out _)) missing.Add(EnvelopeCache.Key(messageRef, utf8));
            }
            if (missing.Count == 0) return null;
            var found = _diskCache.GetMany(missing);
            foreach (var (key, envelope) in found) _envelopes.AddByKey(key, envelope);
            return found;
        }

        Task<string>? CachedSummary(int seq, MessageRecord record, Dictionary<string, string>? fromDisk) =>
            _envelopes.TryGet(record.MessageRef, utf8, out var envelope)
            || (fromDisk is not null && fromDisk.TryGetValue(EnvelopeCache.Key(record.MessageRef, utf8), out envelope))
                ? Task.FromResult(SummaryLine(seq, record, envelope))
                : null;

        async Task<string> SummaryAsync(int seq, MessageRecord record)
        {
            byte[] header;
            bool missing;
            await using (var stream = await _services.Messages.OpenReadAsync(record.MessageRef, ct))
            {
                missing = stream is null;
                header = stream is null ? [] : await HeaderBlock.ReadAsync(stream, 1024 * 1024, ct);
            }
            var envelope = Structure.Envelope(header, utf8);
            if (!missing)
            {
                _envelopes.Add(record.MessageRef, utf8, envelope);
                _diskCache?.Add(EnvelopeCache.Key(record.MessageRef, utf8), envelope);
            }
            return SummaryLine(seq, record, envelope);
        }

        string SummaryLine(int seq, MessageRecord record, string? envelope)
        {
            var parts = new List<string>(items.Count);
            foreach (var item in items)
            {
                parts.Add(item.Kind switch
                {
                    FetchKind.Flags => "FLAGS " + FlagList(record),
                    FetchKind.Uid => "UID " + Wire.Number(record.Uid),
                    FetchKind.InternalDate => "INTERNALDATE \"" + ImapDate.FormatDateTime(record.InternalDate) + "\"",
                    FetchKind.Size => "RFC822.SIZE " + Wire.Number(record.Size),
                    FetchKind.ModSeq => $"MODSEQ ({record.ModSeq})",
                    _ => "ENVELOPE " + envelope,
                });
            }
            return $"* {seq} FETCH ({string.Join(' ', parts)})\r\n";
        }
    }

    private async Task WriteFetchAsync(int seq, MessageRecord record, List<FetchItem> items, bool flagsChanged, Dictionary<string, string>? structures, CancellationToken ct)
    {
        var utf8 = Utf8Names;
        using var access = new MessageAccess(_services.Messages, record);
        if (flagsChanged || items.Any(i => i.Kind == FetchKind.Flags)) AnnounceKeywords(record);
        _conn.Write($"* {seq} FETCH (");
        var first = true;
        foreach (var item in items)
        {
            if (!first) _conn.Write(" ");
            first = false;
            switch (item.Kind)
            {
                case FetchKind.Flags:
                    _conn.Write("FLAGS " + FlagList(record));
                    break;
                case FetchKind.Uid:
                    _conn.Write("UID " + Wire.Number(record.Uid));
                    break;
                case FetchKind.InternalDate:
                    _conn.Write("INTERNALDATE \"" + ImapDate.FormatDateTime(record.InternalDate) + "\"");
                    break;
                case FetchKind.Size:
                    _conn.Write("RFC822.SIZE " + Wire.Number(record.Size));
                    break;
                case FetchKind.ModSeq:
                    _conn.Write($"MODSEQ ({record.ModSeq})");
                    break;
                case FetchKind.Envelope:
                    _conn.Write("ENVELOPE " + Structure.Envelope(await access.HeaderAsync(ct), utf8));
                    break;
                case FetchKind.BodyStructure:
                    _conn.Write("BODYSTRUCTURE " + await StructureAsync(access, extensible: true, utf8, structures, ct));
                    break;
                case FetchKind.Body:
                    _conn.Write("BODY " + await StructureAsync(access, extensible: false, utf8, structures, ct));
                    break;
                case FetchKind.Section:
                    await WriteSectionAsync(access, item, ct);
                    break;
                case FetchKind.Binary:
                case FetchKind.BinarySize:
                    await WriteBinaryAsync(access, item, ct);
                    break;
            }
        }
        if (flagsChanged && !items.Any(i => i.Kind == FetchKind.Flags))
            _conn.Write(" FLAGS " + FlagList(record));
        _conn.Write(")\r\n");
    }

    private static (long Skip, long Length) Partial(FetchItem item, long total)
    {
        if (item.PartialStart is not { } start) return (0, total);
        if (start >= total) return (total, 0);
        return (start, Math.Min(item.PartialLength!.Value, total - start));
    }

    private string SectionLabel(FetchItem item) => item.PartialStart is { } s ? $"{item.Label}<{s}>" : item.Label;

    private void WriteBytesLiteral(string label, FetchItem item, byte[] data, bool binary = false)
    {
        var (skip, length) = Partial(item, data.Length);
        var span = data.AsSpan((int)skip, (int)length);
        _conn.Write($"{label} {(binary && span.Contains((byte)0) ? "~" : "")}{{{length}}}\r\n");
        _conn.Write(span);
    }

    private async Task WriteSectionAsync(MessageAccess access, FetchItem item, CancellationToken ct)
    {
        var label = SectionLabel(item);
        if (item.Part.Length == 0 && item.Suffix.Length == 0)
        {
            // The whole message: streamed from the store, never whole in memory.
            await using var stream = await access.OpenAsync(ct);
            var total = stream.CanSeek ? stream.Length : access.Record.Size;
            var (skip, length) = Partial(item, total);
            _conn.Write($"{label} {{{length}}}\r\n");
            if (skip > 0)
            {
                if (stream.CanSeek) stream.Position = skip;
                else await SkipAsync(stream, skip, ct);
            }
            await _conn.CopyFromAsync(stream, length, ct);
            return;
        }
        if (item.TopHeaderOnly)
        {
            var header = await access.HeaderAsync(ct);
            var data = item.Suffix == "HEADER" ? header : HeaderBlock.Filter(header, item.Fields, item.Suffix.EndsWith(".NOT", StringComparison.Ordinal));
            WriteBytesLiteral(label, item, data);
            return;
        }
        var pm = await access.ParsedAsync(ct);
        var target = Navigate(pm, item.Part);
        if (target is null)
        {
            _conn.Write($"{label} NIL");
            return;
        }
        long start, count;
        switch (item.Suffix)
        {
            case "":
                if (target is MimeMessage) (start, count) = (0, pm.Length);
                else
                {
                    var off = pm.Of((MimeEntity)target);
                    if (target is MimePart { ContentTransferEncoding: ContentEncoding.Binary })
                    {
                        // Raw octets (NUL included) are for BINARY[] only (RFC 3516); BODY[] gets them base64-encoded.
                        var raw = await pm.ReadAsync(off.HeadersEnd, off.ContentLength, ct);
                        WriteBytesLiteral(label, item, System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(raw, Base64FormattingOptions.InsertLineBreaks) + "\r\n"));
                        return;
                    }
                    (start, count) = (off.HeadersEnd, off.ContentLength);
                }
                break;
            case "MIME":
                {
                    if (target is not MimeEntity e) { _conn.Write($"{label} NIL"); return; }
                    var off = pm.Of(e);
                    (start, count) = (off.Begin, off.HeadersEnd - off.Begin);
                    break;
                }
            default:
                {
                    var message = target as MimeMessage ?? (target as MessagePart)?.Message;
                    if (message is null) { _conn.Write($"{label} NIL"); return; }
                    var off = pm.Of(message);
                    if (item.Suffix == "TEXT") (start, count) = (off.HeadersEnd, off.End - off.HeadersEnd);
                    else
                    {
                        var header = await pm.ReadAsync(off.Begin, off.HeadersEnd - off.Begin, ct);
                        var data = item.Suffix == "HEADER" ? header : HeaderBlock.Filter(header, item.Fields, item.Suffix.EndsWith(".NOT", StringComparison.Ordinal));
                        WriteBytesLiteral(label, item, data);
                        return;
                    }
                    break;
                }
        }
        var (skip2, length2) = Partial(item, count);
        _conn.Write($"{label} {{{length2}}}\r\n");
        await _conn.CopyFromAsync(pm.At(start + skip2), length2, ct);
    }

    private static async Task SkipAsync(Stream stream, long count, CancellationToken ct)
    {
        var buf = new byte[8192];
        while (count > 0)
        {
            var n = await stream.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, count)), ct);
            if (n == 0) return;
            count -= n;
        }
    }

    /// <summary>Follows a part path (RFC 9051 6.4.5): in a multipart the n-th child; a non-multipart body is part 1;
    /// a message/rfc822 part's numbers continue into its embedded message. Null when there is no such part.</summary>
    private static object? Navigate(ParsedMessage pm, int[] path)
    {
        object current = pm.Message;
        foreach (var n in path)
        {
            var body = current switch
            {
                MimeMessage m => m.Body,
                MessagePart { Message: { } inner } => inner.Body,
                _ => current as MimeEntity,
            };
            if (current is MimeEntity and not MessagePart and not Multipart) return null; // leaf parts have no sub-parts
            if (body is Multipart mp)
            {
                if (n > mp.Count) return null;
                current = mp[n - 1];
            }
            else
            {
                if (n != 1 || body is null) return null;
                current = body;
            }
        }
        return current;
    }

    private async Task WriteBinaryAsync(MessageAccess access, FetchItem item, CancellationToken ct)
    {
        var label = SectionLabel(item);
        byte[] data;
        if (item.Part.Length == 0)
        {
            await using var stream = await access.OpenAsync(ct);
            using var ms = new MemoryStream();
            await stream.CopyToAsync(ms, ct);
            data = ms.ToArray();
        }
        else
        {
            var pm = await access.ParsedAsync(ct);
            var target = Navigate(pm, item.Part);
            switch (target)
            {
                case MimePart { ContentTransferEncoding: ContentEncoding.QuotedPrintable } qp:
                    {
                        // MimeKit's decoder keeps transport padding and misses "= " + CRLF soft breaks.
                        var off = pm.Of(qp);
                        data = QuotedPrintable.Decode(await pm.ReadAsync(off.HeadersEnd, off.ContentLength, ct));
                        break;
                    }
                case MimePart part when part.Content is not null:
                    {
                        using var ms = new MemoryStream();
                        await part.Content.DecodeToAsync(ms, ct);
                        data = ms.ToArray();
                        break;
                    }
                case MimeEntity e when e is not Multipart:
                    {
                        var off = pm.Of(e);
                        data = await pm.ReadAsync(off.HeadersEnd, off.ContentLength, ct);
                        break;
                    }
                default:
                    _conn.Write(item.Kind == FetchKind.BinarySize ? $"{label} 0" : $"{label} NIL");
                    return;
            }
        }
        if (item.Kind == FetchKind.BinarySize) _conn.Write($"{label} {data.Length}");
        else WriteBytesLiteral(label, item, data, binary: true);
    }
}
