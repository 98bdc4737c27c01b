using Mail.Core.Listening;
using Mail.Core.Messages;
using Mail.Imap.Messages;
using MimeKit;

namespace Mail.Imap.Session;

/// <summary>
/// The section items of a FETCH response: BODY[section]&lt;partial&gt; (RFC 9051 6.4.5) and BINARY[part],
/// BINARY.SIZE[part] (RFC 3516), each written as its label and a literal (or NIL when there is no such part).
/// </summary>
internal static class BodySectionWriter
{
    public static async Task WriteSectionAsync(LineConnection conn, MessageAccess access, FetchItem item, CancellationToken ct)
    {
        var label = Label(item);
        if (item.Part.Length == 0 && item.Suffix.Length == 0)
        {
            // The whole message: streamed from the store, never whole in memory.
            await using var stream = await access.OpenAsync(ct);
            var total = stream.CanSeek ? stream.Length : access.Record.Size;
            var (skip, length) = Partial(item, total);
            conn.Write($"{label} {{{length}}}\r\n");
            if (skip > 0)
            {
                if (stream.CanSeek) stream.Position = skip;
                else await SkipAsync(stream, skip, ct);
            }
            await conn.CopyFromAsync(stream, length, ct);
            return;
        }
        if (item.TopHeaderOnly)
        {
            WriteBytesLiteral(conn, label, item, HeaderSection(item, await access.HeaderAsync(ct)));
            return;
        }
        var pm = await access.ParsedAsync(ct);
        var target = Navigate(pm, item.Part);
        if (target is null)
        {
            conn.Write($"{label} NIL");
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
                        WriteBytesLiteral(conn, label, item, System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(raw, Base64FormattingOptions.InsertLineBreaks) + "\r\n"));
                        return;
                    }
                    (start, count) = (off.HeadersEnd, off.ContentLength);
                }
                break;
            case "MIME":
                {
                    if (target is not MimeEntity e) { conn.Write($"{label} NIL"); return; }
                    var off = pm.Of(e);
                    (start, count) = (off.Begin, off.HeadersEnd - off.Begin);
                    break;
                }
            default:
                {
                    var message = target as MimeMessage ?? (target as MessagePart)?.Message;
                    if (message is null) { conn.Write($"{label} NIL"); return; }
                    var off = pm.Of(message);
                    if (item.Suffix == "TEXT") (start, count) = (off.HeadersEnd, off.End - off.HeadersEnd);
                    else
                    {
                        WriteBytesLiteral(conn, label, item, HeaderSection(item, await pm.ReadAsync(off.Begin, off.HeadersEnd - off.Begin, ct)));
                        return;
                    }
                    break;
                }
        }
        var (skip2, length2) = Partial(item, count);
        conn.Write($"{label} {{{length2}}}\r\n");
        await conn.CopyFromAsync(pm.At(start + skip2), length2, ct);
    }

    public static async Task WriteBinaryAsync(LineConnection conn, MessageAccess access, FetchItem item, CancellationToken ct)
    {
        var label = Label(item);
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
                    conn.Write(item.Kind == FetchKind.BinarySize ? $"{label} 0" : $"{label} NIL");
                    return;
            }
        }
        if (item.Kind == FetchKind.BinarySize) conn.Write($"{label} {data.Length}");
        else WriteBytesLiteral(conn, label, item, data, binary: true);
    }

    /// <summary>Follows a part path (RFC 9051 6.4.5): in a multipart the n-th child; a non-multipart body is part 1;
    /// a message/rfc822 part's numbers continue into its embedded message. Null when there is no such part.</summary>
    public static object? Navigate(ParsedMessage pm, int[] path)
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

    /// <summary>The octets of the partial range &lt;start.length&gt; within <paramref name="total"/>: (skip, length).</summary>
    public static (long Skip, long Length) Partial(FetchItem item, long total)
    {
        if (item.PartialStart is not { } start) return (0, total);
        if (start >= total) return (total, 0);
        return (start, Math.Min(item.PartialLength!.Value, total - start));
    }

    /// <summary>HEADER, HEADER.FIELDS or HEADER.FIELDS.NOT of a header block.</summary>
    private static byte[] HeaderSection(FetchItem item, byte[] header) =>
        item.Suffix == "HEADER" ? header : HeaderBlock.Filter(header, item.Fields, item.Suffix.EndsWith(".NOT", StringComparison.Ordinal));

    /// <summary>The name in the response: a partial fetch names its origin octet (RFC 9051 7.5.2).</summary>
    private static string Label(FetchItem item) => item.PartialStart is { } s ? $"{item.Label}<{s}>" : item.Label;

    private static void WriteBytesLiteral(LineConnection conn, string label, FetchItem item, byte[] data, bool binary = false)
    {
        var (skip, length) = Partial(item, data.Length);
        var span = data.AsSpan((int)skip, (int)length);
        conn.Write($"{label} {(binary && span.Contains((byte)0) ? "~" : "")}{{{length}}}\r\n");
        conn.Write(span);
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
}
