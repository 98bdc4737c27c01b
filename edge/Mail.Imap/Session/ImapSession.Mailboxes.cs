using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

internal sealed partial class ImapSession
{
    private const string SystemFlags = @"\Answered \Flagged \Deleted \Seen \Draft";

    private string ReadMailboxName(ArgReader r)
    {
        var wire = r.AString();
        var name = MailboxName.Decode(wire, Utf8Names);
        if (name.Length > 1 && name.EndsWith('/')) name = name.TrimEnd('/');
        if (name.Length == 0) throw new ImapParseException("Empty mailbox name");
        if (name.Length > 1024) throw new ImapParseException("Mailbox name too long");
        if (name.Any(char.IsControl)) throw new ImapParseException("Control characters are not allowed in mailbox names");
        return name;
    }

    private string Quote(string s) => Wire.String(s, Utf8Names);

    private string MailboxOnWire(string name) => Quote(MailboxName.Encode(name, Utf8Names));

    private async Task<string> SelectAsync(ArgReader r, string command, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        QresyncRequest? resync = null;
        if (r.TrySpace())
        {
            r.Expect('(');
            do
            {
                var p = r.Atom().ToUpperInvariant();
                if (p == "QRESYNC") resync = ReadQresyncParameter(r);
                else if (p == "CONDSTORE") _condStore = true;
                else throw new ImapParseException($"Unknown SELECT parameter {p}");
            } while (r.TrySpace());
            r.Expect(')');
        }
        r.ExpectEnd();
        if (_selected is not null)
        {
            _selected = null;
            _state = SessionState.Authenticated;
            _conn.WriteLine("* OK [CLOSED] Previous mailbox closed");
        }
        var info = await Mailboxes.GetMailboxAsync(_user, name, ct);
        if (info is null) return "NO [NONEXISTENT] No such mailbox";
        var records = await _messageLists.GetAsync(Mailboxes, info, ct);
        var readOnly = command == "EXAMINE";
        var sel = new SelectedMailbox(info.Name, readOnly, info.UidValidity) { UidNext = info.UidNext, HighestModSeq = info.HighestModSeq };
        sel.Load(records);
        ClaimRecent(sel, info.UidNext);
        WriteFlags(sel, sel.Keywords());
        _conn.WriteLine($"* {sel.Uids.Count} EXISTS");
        if (!_rev2)
        {
            WriteRecent(sel, always: true);
            var firstUnseen = sel.Uids.FindIndex(u => !HasFlag(sel.Records[u], MessageFlags.Seen));
            if (firstUnseen >= 0) _conn.WriteLine($"* OK [UNSEEN {firstUnseen + 1}] First unseen");
        }
        _conn.WriteLine($"* OK [UIDVALIDITY {sel.UidValidity}] UIDs valid");
        _conn.WriteLine($"* OK [UIDNEXT {info.UidNext}] Predicted next UID");
        _conn.WriteLine(info.HighestModSeq > 0 ? $"* OK [HIGHESTMODSEQ {info.HighestModSeq}] Highest" : "* OK [NOMODSEQ] No modification sequences yet");
        if (_rev2) _conn.WriteLine($"* LIST () \"/\" {MailboxOnWire(info.Name)}");
        _selected = sel;
        _state = SessionState.Selected;
        if (resync is not null) await WriteResyncAsync(sel, resync, ct);
        return $"OK [{(readOnly ? "READ-ONLY" : "READ-WRITE")}] {command} completed";
    }

    private static bool HasFlag(MessageRecord m, string flag) => m.Flags.Contains(flag, StringComparer.OrdinalIgnoreCase);

    private string Unselect(ArgReader r)
    {
        r.ExpectEnd();
        _selected = null;
        _state = SessionState.Authenticated;
        return "OK UNSELECT completed";
    }

    private async Task<string> CloseAsync(ArgReader r, CancellationToken ct)
    {
        r.ExpectEnd();
        var sel = _selected!;
        _selected = null;
        _state = SessionState.Authenticated;
        // CLOSE expunges silently (no EXPUNGE responses), and only when the mailbox is writable.
        if (!sel.ReadOnly) await Mailboxes.ExpungeAsync(_user, sel.Name, null, ct);
        return "OK CLOSE completed";
    }

    private async Task<string> CreateAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        string? use = null;
        if (r.TrySpace())
        {
            // RFC 6154 CREATE-SPECIAL-USE: CREATE name (USE (\Archive))
            r.Expect('(');
            if (!r.TryAtom("USE")) throw new ImapParseException("Unknown CREATE parameter");
            r.Space();
            var uses = r.FlagList();
            r.Expect(')');
            if (uses.Count > 1) return "NO [USEATTR] Only one special-use attribute per mailbox";
            use = uses.FirstOrDefault();
            if (use is not null && !new[] { SpecialUse.Sent, SpecialUse.Drafts, SpecialUse.Trash, SpecialUse.Junk, SpecialUse.Archive }.Contains(use, StringComparer.OrdinalIgnoreCase))
                return $"NO [USEATTR] Unsupported special-use attribute {use}";
        }
        r.ExpectEnd();
        if (name == "INBOX") return "NO [ALREADYEXISTS] INBOX always exists";
        var created = await Mailboxes.CreateMailboxAsync(_user, name, use, ct);
        _recent.Observe(_user, created.Name, created.UidValidity, created.UidNext);
        return "OK CREATE completed";
    }

    private async Task<string> DeleteAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        r.ExpectEnd();
        if (name == "INBOX") return "NO [CANNOT] INBOX cannot be deleted";
        if (_selected?.Name == name) return "NO [INUSE] Mailbox is selected; UNSELECT it first";
        await Mailboxes.DeleteMailboxAsync(_user, name, ct);
        return "OK DELETE completed";
    }

    private async Task<string> RenameAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var from = ReadMailboxName(r);
        r.Space();
        var to = ReadMailboxName(r);
        r.ExpectEnd();
        if (to == "INBOX") return "NO [ALREADYEXISTS] INBOX always exists";
        if (await Mailboxes.GetMailboxAsync(_user, from, ct) is null) return "NO [NONEXISTENT] No such mailbox";
        if (await Mailboxes.GetMailboxAsync(_user, to, ct) is not null) return "NO [ALREADYEXISTS] Target mailbox exists";
        await Mailboxes.RenameMailboxAsync(_user, from, to, ct);
        return "OK RENAME completed";
    }

    private async Task<string> SubscribeAsync(ArgReader r, bool subscribe, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        r.ExpectEnd();
        await Mailboxes.SetSubscribedAsync(_user, name, subscribe, ct);
        return subscribe ? "OK SUBSCRIBE completed" : "OK UNSUBSCRIBE completed";
    }

    private static readonly HashSet<string> KnownStatusItems = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "RECENT", "HIGHESTMODSEQ", "SIZE", "DELETED"];

    private static List<string> ReadStatusItems(ArgReader r)
    {
        r.Expect('(');
        var items = new List<string>();
        do
        {
            var item = r.Atom().ToUpperInvariant();
            if (!KnownStatusItems.Contains(item)) throw new ImapParseException($"Unknown STATUS item {item}");
            items.Add(item);
        } while (r.TrySpace());
        r.Expect(')');
        return items;
    }

    private async Task<string> StatusAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        var name = ReadMailboxName(r);
        r.Space();
        var items = ReadStatusItems(r);
        r.ExpectEnd();
        var info = await Mailboxes.GetMailboxAsync(_user, name, ct);
        if (info is null) return "NO [NONEXISTENT] No such mailbox";
        if (items.Contains("HIGHESTMODSEQ")) EnableCondStore();
        WriteStatus(info, items, await MessagesIfNeeded(info, items, ct));
        return "OK STATUS completed";
    }

    private async Task<IReadOnlyList<MessageRecord>?> MessagesIfNeeded(MailboxInfo info, List<string> items, CancellationToken ct) =>
        items.Contains("SIZE") || items.Contains("DELETED") || (items.Contains("RECENT") && FirstRecent(info) < info.UidNext)
            ? await Mailboxes.ListMessagesAsync(_user, info.Name, null, ct)
            : null;

    private long FirstRecent(MailboxInfo info) => _recent.FirstRecent(_user, info.Name, info.UidValidity, info.UidNext);

    private void WriteStatus(MailboxInfo info, List<string> items, IReadOnlyList<MessageRecord>? messages)
    {
        var parts = items.Select(i => i + " " + i switch
        {
            "MESSAGES" => Wire.Number(info.MessageCount),
            "UIDNEXT" => Wire.Number(info.UidNext),
            "UIDVALIDITY" => Wire.Number(info.UidValidity),
            "UNSEEN" => Wire.Number(info.UnseenCount),
            "RECENT" => Wire.Number(messages is null ? 0 : messages.Count(m => m.Uid >= FirstRecent(info))),
            "HIGHESTMODSEQ" => Wire.Number(info.HighestModSeq),
            "SIZE" => Wire.Number(messages!.Sum(m => m.Size)),
            "DELETED" => Wire.Number(messages!.Count(m => HasFlag(m, MessageFlags.Deleted))),
            _ => "0",
        });
        _conn.WriteLine($"* STATUS {MailboxOnWire(info.Name)} ({string.Join(' ', parts)})");
    }

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

    private static void ValidateFlags(List<string> flags)
    {
        foreach (var f in flags)
        {
            if (f.StartsWith('\\') && !SystemFlags.Split(' ').Contains(f, StringComparer.OrdinalIgnoreCase) && !f.Equals("\\Recent", StringComparison.OrdinalIgnoreCase))
                throw new ImapParseException($"Unknown system flag {f}");
        }
        flags.RemoveAll(f => f.Equals("\\Recent", StringComparison.OrdinalIgnoreCase));
        for (var i = 0; i < flags.Count; i++)
        {
            var canonical = SystemFlags.Split(' ').FirstOrDefault(s => s.Equals(flags[i], StringComparison.OrdinalIgnoreCase));
            if (canonical is not null) flags[i] = canonical;
        }
    }
}
