using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>APPEND (RFC 9051 6.3.12), with MULTIAPPEND (RFC 3502), CATENATE (RFC 4469, ImapSession.Catenate.cs)
/// and UTF8 literals (RFC 6855).</summary>
internal sealed partial class ImapSession
{
    /// <summary>One message of an APPEND: its octets, or (CATENATE) the parts to join, each TEXT octets or an IMAP URL.</summary>
    private sealed record AppendItem(List<string> Flags, DateTimeOffset Date, byte[]? Data, List<(byte[]? Text, string? Url)>? Parts = null);

    /// <summary>APPEND, with MULTIAPPEND (RFC 3502): several messages, each with its own flags and date, checked
    /// all before any is stored, so a bad one leaves the mailbox as it was.</summary>
    private async Task<string> AppendAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        var items = new List<AppendItem>();
        do
        {
            r.Space();
            items.Add(ReadAppendItem(r));
        } while (!r.AtEnd);
        r.ExpectEnd();
        foreach (var item in items) ValidateFlags(item.Flags);
        var info = await Mailboxes.GetMailboxAsync(_user, name, ct);
        if (info is null) return "NO [TRYCREATE] No such mailbox";
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i].Parts is not { } parts) continue;
            var joined = await CatenateAsync(parts, ct);
            if (joined is null) return "NO [BADURL] A CATENATE URL names no message or section of this user";
            items[i] = items[i] with { Data = joined };
        }
        if (items.Any(i => i.Data!.Length == 0)) return "NO Empty message";
        // All or nothing, as MULTIAPPEND stores: the messages together must fit.
        if (await OverQuotaAsync(items.Sum(i => (long)i.Data!.Length), ct) is { } overQuota) return overQuota;
        _recent.Observe(_user, info.Name, info.UidValidity, info.UidNext);
        var uids = new List<long>(items.Count);
        long uidValidity = info.UidValidity;
        foreach (var item in items)
        {
            var id = "imap-" + Guid.NewGuid().ToString("N");
            StoredMessage stored;
            await using (var writer = await _services.Messages.CreateAsync(id, ct))
            {
                await writer.WriteAsync(item.Data!, ct);
                stored = await writer.CommitAsync(ct);
            }
            var result = await Mailboxes.AppendAsync(_user, info.Name, new NewMessage(stored.Id, stored.Size, item.Date, item.Flags, null), ct);
            uids.Add(result.Message.Uid);
            uidValidity = result.UidValidity;
        }
        return $"OK [APPENDUID {uidValidity} {SequenceSet.Format(uids)}] APPEND completed";
    }

    /// <summary>[flag-list SP] [date-time SP] (literal / UTF8 (literal8))</summary>
    private AppendItem ReadAppendItem(ArgReader r)
    {
        var flags = new List<string>();
        if (r.Peek == '(')
        {
            flags = r.FlagList();
            r.Space();
        }
        var date = _services.Time.GetUtcNow();
        if (r.Peek == '"')
        {
            var text = r.Quoted();
            if (!ImapDate.TryParseDateTime(text, out date)) throw new ImapParseException($"Bad date-time \"{text}\"");
            r.Space();
        }
        if (r.TryAtom("CATENATE"))
        {
            // RFC 4469: CATENATE (TEXT literal / URL "imap-url" ...)
            r.Space();
            r.Expect('(');
            var parts = new List<(byte[]?, string?)>();
            do
            {
                var kind = r.Atom().ToUpperInvariant();
                r.Space();
                if (kind == "TEXT") parts.Add((r.Literal(), null));
                else if (kind == "URL") parts.Add((null, r.AString()));
                else throw new ImapParseException($"Expected TEXT or URL in CATENATE, not {kind}");
            } while (r.TrySpace());
            r.Expect(')');
            return new AppendItem(flags, date, null, parts);
        }
        if (r.TryAtom("UTF8"))
        {
            // RFC 6855: APPEND ... UTF8 (~{n} literal8)
            r.Space();
            r.Expect('(');
            var inner = r.Literal();
            r.Expect(')');
            return new AppendItem(flags, date, inner);
        }
        return new AppendItem(flags, date, r.Literal());
    }
}
