using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>Mailbox names on the wire (RFC 9051 5.1, modified UTF-7 or UTF-8) and the authenticated state's commands on
/// mailboxes (RFC 9051 6.3: CREATE with RFC 6154 USE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS).</summary>
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

    private static bool HasFlag(MessageRecord m, string flag) => m.Flags.Contains(flag, StringComparer.OrdinalIgnoreCase);

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
