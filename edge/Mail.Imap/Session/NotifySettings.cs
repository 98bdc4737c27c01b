using Mail.Core.Ports;

namespace Mail.Imap.Session;

/// <summary>RFC 5465 events this server can report. MailboxMetadataChange, ServerMetadataChange and
/// AnnotationChange are not among them: there is no METADATA or ANNOTATE here (NOTIFY answers BADEVENT).</summary>
[Flags]
internal enum NotifyEvents
{
    None = 0,
    MessageNew = 1,
    MessageExpunge = 2,
    FlagChange = 4,
    MailboxName = 8,
    SubscriptionChange = 16,
    MessageEvents = MessageNew | MessageExpunge | FlagChange,
}

/// <summary>RFC 5465 filter-mailboxes.</summary>
internal enum NotifyFilter { Selected, SelectedDelayed, Inboxes, Personal, Subscribed, Subtree, Mailboxes }

/// <summary>One event group of NOTIFY SET: which mailboxes, which events; for the selected mailbox, what to FETCH
/// of a new message.</summary>
internal sealed record NotifyGroup(NotifyFilter Filter, IReadOnlyList<string> Names, NotifyEvents Events, List<FetchItem>? NewMessageItems)
{
    public bool IsSelected => Filter is NotifyFilter.Selected or NotifyFilter.SelectedDelayed;

    /// <summary>Whether a (non-selected) mailbox is named by this filter. "inboxes" is INBOX: no other mailbox receives mail.</summary>
    public bool Matches(string name, IReadOnlySet<string> subscribed) => Filter switch
    {
        NotifyFilter.Inboxes => name == "INBOX",
        NotifyFilter.Personal => true,
        NotifyFilter.Subscribed => subscribed.Contains(name),
        NotifyFilter.Subtree => Names.Any(n => name == n || name.StartsWith(n + "/", StringComparison.Ordinal)),
        NotifyFilter.Mailboxes => Names.Contains(name, StringComparer.Ordinal),
        _ => false,
    };
}

/// <summary>What a session asked to hear of with NOTIFY SET: its event groups in command order.</summary>
internal sealed class NotifySettings(IReadOnlyList<NotifyGroup> groups)
{
    public IReadOnlyList<NotifyGroup> Groups => groups;

    /// <summary>The selected / selected-delayed group, if any.</summary>
    public NotifyGroup? Selected => groups.FirstOrDefault(g => g.IsSelected);

    /// <summary>Events wanted for a mailbox other than the selected one: those of the first group naming it.</summary>
    public NotifyEvents EventsFor(string name) => groups.FirstOrDefault(g => !g.IsSelected && g.Matches(name, Subscriptions))?.Events ?? NotifyEvents.None;

    public NotifyEvents EventsFor(MailboxInfo box) => EventsFor(box.Name);

    public bool Wants(string name, NotifyEvents e) => (EventsFor(name) & e) != 0;

    public bool Wants(MailboxInfo box, NotifyEvents e) => Wants(box.Name, e);

    /// <summary>The user's subscriptions as last read from the store (the "subscribed" filter).</summary>
    public IReadOnlySet<string> Subscriptions { get; set; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>The STATUS items that tell of message events (RFC 5465 5.2-5.4): MessageNew the count, UIDNEXT and
    /// UIDVALIDITY; MessageExpunge the count; FlagChange UIDVALIDITY and HIGHESTMODSEQ. In STATUS order.</summary>
    public static List<string> StatusItems(NotifyEvents events)
    {
        var items = new List<string>();
        if ((events & (NotifyEvents.MessageNew | NotifyEvents.MessageExpunge)) != 0) items.Add("MESSAGES");
        if ((events & NotifyEvents.MessageNew) != 0) items.Add("UIDNEXT");
        if ((events & (NotifyEvents.MessageNew | NotifyEvents.FlagChange)) != 0) items.Add("UIDVALIDITY");
        if ((events & NotifyEvents.FlagChange) != 0) items.Add("HIGHESTMODSEQ");
        return items;
    }
}
