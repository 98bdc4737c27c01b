using Mail.Core.Listening;
using Mail.Core.Ports;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>
/// One message's FETCH response (RFC 9051 7.4.2, 7.5.2): <c>* n FETCH (...)</c> with FLAGS, UID, INTERNALDATE,
/// RFC822.SIZE, MODSEQ, ENVELOPE, BODYSTRUCTURE, BODY, and the sections (BODY[...], BINARY[...], through
/// <see cref="BodySectionWriter"/>). One per FETCH command; the command handler decides which messages and items.
/// </summary>
internal sealed class FetchResponseWriter(LineConnection conn, IMessageStore messages, SelectedMailbox mailbox, MailboxCacheFile? diskCache, bool utf8)
{
    /// <summary>Formatted BODYSTRUCTUREs and BODYs of the next messages, from the on-disk cache; null without one.</summary>
    private Dictionary<string, string>? _structures;

    /// <summary>The items that come straight from the message's record; null for the others.</summary>
    public static string? RecordItem(FetchKind kind, MessageRecord record, SelectedMailbox mailbox) => kind switch
    {
        FetchKind.Flags => "FLAGS " + mailbox.FlagList(record),
        FetchKind.Uid => "UID " + Wire.Number(record.Uid),
        FetchKind.InternalDate => "INTERNALDATE \"" + ImapDate.FormatDateTime(record.InternalDate) + "\"",
        FetchKind.Size => "RFC822.SIZE " + Wire.Number(record.Size),
        FetchKind.ModSeq => $"MODSEQ ({record.ModSeq})",
        _ => null,
    };

    /// <summary>
    /// Reads the BODYSTRUCTUREs and BODYs of <paramref name="records"/> (the next messages to write) from the on-disk
    /// cache in one query, when the items ask for them; the messages it does not hold are parsed (and then cached).
    /// </summary>
    public void PrefetchStructures(IEnumerable<MessageRecord> records, IReadOnlyList<FetchItem> items)
    {
        if (diskCache is null || !items.Any(i => i.Kind is FetchKind.BodyStructure or FetchKind.Body)) return;
        _structures ??= new Dictionary<string, string>(StringComparer.Ordinal);
        _structures.Clear();
        var keys = new List<string>();
        foreach (var record in records)
        {
            foreach (var item in items)
                if (item.Kind is FetchKind.BodyStructure or FetchKind.Body)
                    keys.Add(StructureKey(record.MessageRef, item.Kind == FetchKind.BodyStructure, utf8));
        }
        foreach (var (key, value) in diskCache.GetMany(keys)) _structures[key] = value;
    }

    /// <summary>
    /// Writes <c>* seq FETCH (...)</c> for <paramref name="record"/>, the items in the order asked;
    /// <paramref name="flagsChanged"/> (this FETCH set \Seen) adds FLAGS when it was not asked for.
    /// </summary>
    public async Task WriteAsync(int seq, MessageRecord record, IReadOnlyList<FetchItem> items, bool flagsChanged, CancellationToken ct)
    {
        using var access = new MessageAccess(messages, record);
        conn.Write($"* {seq} FETCH (");
        var first = true;
        foreach (var item in items)
        {
            if (!first) conn.Write(" ");
            first = false;
            if (RecordItem(item.Kind, record, mailbox) is { } text)
            {
                conn.Write(text);
                continue;
            }
            switch (item.Kind)
            {
                case FetchKind.Envelope:
                    conn.Write("ENVELOPE " + Structure.Envelope(await access.HeaderAsync(ct), utf8));
                    break;
                case FetchKind.BodyStructure:
                    conn.Write("BODYSTRUCTURE " + await StructureAsync(access, extensible: true, ct));
                    break;
                case FetchKind.Body:
                    conn.Write("BODY " + await StructureAsync(access, extensible: false, ct));
                    break;
                case FetchKind.Section:
                    await BodySectionWriter.WriteSectionAsync(conn, access, item, ct);
                    break;
                case FetchKind.Binary:
                case FetchKind.BinarySize:
                    await BodySectionWriter.WriteBinaryAsync(conn, access, item, ct);
                    break;
            }
        }
        if (flagsChanged && !items.Any(i => i.Kind == FetchKind.Flags))
            conn.Write(" FLAGS " + mailbox.FlagList(record));
        conn.Write(")\r\n");
    }

    /// <summary>On-disk cache key of a formatted BODYSTRUCTURE ("S") or BODY ("s"); envelope keys start with "u"/"a".</summary>
    private static string StructureKey(string messageRef, bool extensible, bool utf8) => (extensible ? "S" : "s") + EnvelopeCache.Key(messageRef, utf8);

    private async Task<string> StructureAsync(MessageAccess access, bool extensible, CancellationToken ct)
    {
        var key = StructureKey(access.Record.MessageRef, extensible, utf8);
        if (_structures is not null && _structures.TryGetValue(key, out var hit)) return hit;
        var structure = Structure.Body(await access.ParsedAsync(ct), extensible, utf8);
        if (!access.Missing) diskCache?.Add(key, structure);
        return structure;
    }
}
