using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>
/// NOTIFY (RFC 5465): the client names mailboxes and events; changes to mailboxes other than the selected one
/// arrive as STATUS (message events) and LIST (MailboxName, SubscriptionChange) responses. Changes meet only in
/// the store, so the session polls it: one mailbox listing, compared with the one before, after each command
/// (as the selected mailbox is refreshed), during IDLE, and every IdlePollInterval while waiting for the next
/// command, which is how a NOTIFY client hears of changes without sending anything. With a selected or
/// selected-delayed filter the selected mailbox is also refreshed while waiting (expunges only with "selected"),
/// and new messages are fetched with the attributes given to MessageNew. Without one, the selected mailbox is
/// reported as without NOTIFY. A rename is told apart from delete + create by the UIDVALIDITY, which a rename keeps.
/// </summary>
internal sealed partial class ImapSession
{
    private NotifySettings? _notify;
    private Dictionary<string, MailboxInfo> _notifySnapshot = new(StringComparer.Ordinal);
    private HashSet<string> _notifySubscriptions = new(StringComparer.Ordinal);
    private SelectedMailbox? _notifyFetchedFor;
    private long _notifyFetchedUid;

    private const string SupportedEvents = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange";

    private async Task<string> NotifyAsync(ArgReader r, CancellationToken ct)
    {
        r.Space();
        if (r.TryAtom("NONE"))
        {
            r.ExpectEnd();
            _notify = null;
            return "OK NOTIFY completed";
        }
        if (!r.TryAtom("SET")) throw new ImapParseException("Expected NOTIFY SET or NOTIFY NONE");
        r.Space();
        var status = r.TryAtom("STATUS");
        if (status) r.Space();
        var groups = new List<NotifyGroup>();
        string? badEvent = null;
        do groups.Add(ReadNotifyGroup(r, ref badEvent)); while (r.TrySpace());
        r.ExpectEnd();
        if (badEvent is not null) return $"NO [BADEVENT ({SupportedEvents})] Event not supported: {badEvent}";
        if (groups.Count(g => g.IsSelected) > 1) throw new ImapParseException("selected and selected-delayed may be given once");
        var settings = new NotifySettings(groups);
        var boxes = await Mailboxes.ListMailboxesAsync(_user, ct);
        var subscribed = (await Mailboxes.ListSubscriptionsAsync(_user, ct)).ToHashSet(StringComparer.Ordinal);
        settings.Subscriptions = subscribed;
        if (status)
        {
            foreach (var box in boxes)
            {
                if (box.Name == _selected?.Name) continue;
                var events = settings.EventsFor(box) & NotifyEvents.MessageEvents;
                if (events != NotifyEvents.None) WriteStatus(box, NotifySettings.StatusItems(events), null);
            }
        }
        _notify = settings;
        _notifySnapshot = boxes.ToDictionary(b => b.Name, StringComparer.Ordinal);
        _notifySubscriptions = subscribed;
        _notifyFetchedFor = _selected;
        _notifyFetchedUid = _selected?.MaxUid ?? 0;
        return "OK NOTIFY completed";
    }

    /// <summary>"(" filter-mailboxes SP events ")"; an event this server does not support is remembered in
    /// <paramref name="badEvent"/> (answered NO [BADEVENT] once the whole command has been read).</summary>
    private NotifyGroup ReadNotifyGroup(ArgReader r, ref string? badEvent)
    {
        r.Expect('(');
        var word = r.Atom().ToUpperInvariant();
        var filter = word switch
        {
            "SELECTED" => NotifyFilter.Selected,
            "SELECTED-DELAYED" => NotifyFilter.SelectedDelayed,
            "INBOXES" => NotifyFilter.Inboxes,
            "PERSONAL" => NotifyFilter.Personal,
            "SUBSCRIBED" => NotifyFilter.Subscribed,
            "SUBTREE" => NotifyFilter.Subtree,
            "MAILBOXES" => NotifyFilter.Mailboxes,
            _ => throw new ImapParseException($"Unknown NOTIFY filter {word}"),
        };
        var names = new List<string>();
        if (filter is NotifyFilter.Subtree or NotifyFilter.Mailboxes)
        {
            r.Space();
            if (r.TryChar('('))
            {
                do names.Add(ReadMailboxName(r)); while (r.TrySpace());
                r.Expect(')');
            }
            else names.Add(ReadMailboxName(r));
        }
        r.Space();
        var events = NotifyEvents.None;
        List<FetchItem>? fetch = null;
        if (!r.TryAtom("NONE"))
        {
            r.Expect('(');
            var last = "";
            var first = true;
            while (!r.TryChar(')'))
            {
                if (!first) r.Space();
                first = false;
                if (last == "MESSAGENEW" && r.Peek == '(')
                {
                    if (filter is not (NotifyFilter.Selected or NotifyFilter.SelectedDelayed))
                        throw new ImapParseException("MessageNew fetch attributes are for the selected mailbox only");
                    fetch = FetchItem.ParseList(r);
                    last = "";
                    continue;
                }
                last = r.Atom().ToUpperInvariant();
                NotifyEvents e = last switch
                {
                    "MESSAGENEW" => NotifyEvents.MessageNew,
                    "MESSAGEEXPUNGE" => NotifyEvents.MessageExpunge,
                    "FLAGCHANGE" => NotifyEvents.FlagChange,
                    "MAILBOXNAME" => NotifyEvents.MailboxName,
                    "SUBSCRIPTIONCHANGE" => NotifyEvents.SubscriptionChange,
                    _ => NotifyEvents.None,
                };
                if (e == NotifyEvents.None) badEvent ??= last;
                if ((e & (NotifyEvents.MailboxName | NotifyEvents.SubscriptionChange)) != 0 && filter is NotifyFilter.Selected or NotifyFilter.SelectedDelayed)
                    throw new ImapParseException($"{last} is not an event of the selected mailbox");
                events |= e;
            }
        }
        r.Expect(')');
        return new NotifyGroup(filter, names, events, fetch);
    }

    /// <summary>What changed in the store since the last look, as NOTIFY asked: LIST for mailboxes created, deleted,
    /// renamed or (un)subscribed, STATUS for message events in mailboxes other than the selected one, and FETCH of
    /// new messages in the selected one when MessageNew asked for attributes.</summary>
    private async Task NotifyChangesAsync(CancellationToken ct)
    {
        var notify = _notify;
        if (notify is null) return;
        var now = (await Mailboxes.ListMailboxesAsync(_user, ct)).ToDictionary(b => b.Name, StringComparer.Ordinal);
        var subscribed = (await Mailboxes.ListSubscriptionsAsync(_user, ct)).ToHashSet(StringComparer.Ordinal);
        var wasSubscribed = _notifySubscriptions;
        notify.Subscriptions = subscribed;
        var before = _notifySnapshot;
        var created = now.Values.Where(b => !before.ContainsKey(b.Name)).ToList();
        foreach (var gone in before.Values.Where(b => !now.ContainsKey(b.Name)))
        {
            var renamed = created.FirstOrDefault(c => c.UidValidity == gone.UidValidity);
            if (renamed is not null)
            {
                created.Remove(renamed);
                if (notify.Wants(gone, NotifyEvents.MailboxName) || notify.Wants(renamed, NotifyEvents.MailboxName))
                    _conn.WriteLine($"* LIST () \"/\" {MailboxOnWire(renamed.Name)} (\"OLDNAME\" ({MailboxOnWire(gone.Name)}))");
            }
            else if (notify.Wants(gone, NotifyEvents.MailboxName))
                _conn.WriteLine($"* LIST (\\NonExistent) \"/\" {MailboxOnWire(gone.Name)}");
        }
        foreach (var box in created)
            if (notify.Wants(box, NotifyEvents.MailboxName)) _conn.WriteLine($"* LIST () \"/\" {MailboxOnWire(box.Name)}");
        foreach (var box in now.Values)
        {
            if (!before.TryGetValue(box.Name, out var old)) continue;
            if (box.Name == _selected?.Name) continue;
            var events = notify.EventsFor(box) & NotifyEvents.MessageEvents;
            var happened =
                ((events & NotifyEvents.MessageNew) != 0 && box.UidNext != old.UidNext)
                || ((events & NotifyEvents.MessageExpunge) != 0 && box.MessageCount != old.MessageCount)
                || ((events & NotifyEvents.FlagChange) != 0 && box.HighestModSeq != old.HighestModSeq)
                || (events != NotifyEvents.None && box.UidValidity != old.UidValidity);
            if (happened) WriteStatus(box, NotifySettings.StatusItems(events), null);
        }
        // A subscription is a name, with or without a mailbox (RFC 9051 6.3.7).
        foreach (var name in subscribed.Where(n => !wasSubscribed.Contains(n)).Concat(wasSubscribed.Where(n => !subscribed.Contains(n))))
        {
            if (!notify.Wants(name, NotifyEvents.SubscriptionChange)) continue;
            var attributes = (now.ContainsKey(name) ? "" : "\\NonExistent ") + (subscribed.Contains(name) ? "\\Subscribed" : "");
            _conn.WriteLine($"* LIST ({attributes.Trim()}) \"/\" {MailboxOnWire(name)}");
        }
        _notifySnapshot = now;
        _notifySubscriptions = subscribed;
        await FetchNewForNotifyAsync(notify, ct);
        await _conn.MaybeFlushAsync(ct);
    }

    /// <summary>MessageNew with fetch attributes (RFC 5465 5.2): new messages of the selected mailbox are sent
    /// with them, after their EXISTS. Messages there at SELECT (or NOTIFY) time are the client's own to fetch.</summary>
    private async Task FetchNewForNotifyAsync(NotifySettings notify, CancellationToken ct)
    {
        if (_selected is not { } sel || notify.Selected is not { NewMessageItems: { } items } || (notify.Selected.Events & NotifyEvents.MessageNew) == 0) return;
        if (!ReferenceEquals(_notifyFetchedFor, sel))
        {
            _notifyFetchedFor = sel;
            _notifyFetchedUid = sel.MaxUid;
            return;
        }
        var list = items.ToList();
        if (!list.Any(i => i.Kind == FetchKind.Uid)) list.Insert(0, new FetchItem(FetchKind.Uid));
        var writer = new FetchResponseWriter(_conn, _services.Messages, sel, _diskCache, Utf8Names);
        var flags = list.Any(i => i.Kind == FetchKind.Flags);
        var i = sel.Uids.BinarySearch(_notifyFetchedUid + 1);
        for (i = i < 0 ? ~i : i; i < sel.Uids.Count; i++)
        {
            var record = sel.Records[sel.Uids[i]];
            if (flags) AnnounceKeywords(record);
            await writer.WriteAsync(i + 1, record, list, flagsChanged: false, ct);
        }
        _notifyFetchedUid = Math.Max(_notifyFetchedUid, sel.MaxUid);
    }

    /// <summary>Between commands, with NOTIFY set: waits for the client's next command, meanwhile reporting changes
    /// every IdlePollInterval (RFC 5465: notifications need no command in progress). Reads nothing. False when
    /// reporting failed and the session said BYE.</summary>
    private async Task<bool> WaitForCommandWithNotificationsAsync(CancellationToken ct)
    {
        var input = _conn.WaitForInputAsync(ct).AsTask();
        while (_notify is { } notify)
        {
            var tick = Task.Delay(_options.IdlePollInterval, _services.Time, ct);
            if (await Task.WhenAny(input, tick) == input) break;
            await tick;
            if (!await TryReportChangesAsync("*", "NOTIFY (between commands)", ct => ReportNotifiedChangesAsync(notify, ct), ct)) return false;
            await _conn.FlushAsync(ct);
        }
        await input;
        return true;
    }

    private async Task ReportNotifiedChangesAsync(NotifySettings notify, CancellationToken ct)
    {
        // No command is in progress, so sequence numbers cannot shift under one: "selected" gets expunges now,
        // "selected-delayed" at the next command that may report them.
        if (_state == SessionState.Selected && notify.Selected is { } g)
            await RefreshAsync(allowExpunge: g.Filter == NotifyFilter.Selected, ct);
        await NotifyChangesAsync(ct);
    }
}
