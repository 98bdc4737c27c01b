using Mail.Core.Ports;
using Mail.Imap.Session;

namespace Mail.Imap.Tests;

/// <summary>Unit tests of the session's parts that are types of their own: the command table by state
/// (<see cref="ImapCommands"/>), the reader's naming of a half-read command, and the selected mailbox's view.</summary>
public sealed class SessionPartsTests
{
    [Theory]
    [InlineData("CAPABILITY", "NotAuthenticated", true)]
    [InlineData("LOGOUT", "Selected", true)]
    [InlineData("LOGIN", "NotAuthenticated", true)]
    [InlineData("LOGIN", "Authenticated", false)]
    [InlineData("SELECT", "NotAuthenticated", false)]
    [InlineData("SELECT", "Authenticated", true)]
    [InlineData("APPEND", "Selected", true)]
    [InlineData("FETCH", "Authenticated", false)]
    [InlineData("UID FETCH", "Selected", true)]
    [InlineData("CANCELUPDATE", "Selected", true)]
    [InlineData("NOOP", "Logout", true)]
    [InlineData("SELECT", "Logout", false)]
    public void Commands_are_valid_in_the_states_RFC_9051_6_gives_them(string name, string state, bool allowed)
    {
        Assert.True(ImapCommands.IsKnown(name));
        Assert.Equal(allowed, ImapCommands.IsAllowed(name, Enum.Parse<SessionState>(state)));
    }

    [Fact]
    public void Unknown_commands_are_known_in_no_state()
    {
        Assert.False(ImapCommands.IsKnown("XYZZY"));
        Assert.False(ImapCommands.IsKnown("UID APPEND"));
        Assert.Equal("not authenticated", ImapCommands.Describe(SessionState.NotAuthenticated));
    }

    [Fact]
    public void Changes_are_looked_for_after_polls_and_changes_and_expunges_held_during_sequence_commands()
    {
        Assert.True(ImapCommands.AlwaysLooksForChanges("NOOP"));
        Assert.True(ImapCommands.AlwaysLooksForChanges("UID MOVE"));
        Assert.False(ImapCommands.AlwaysLooksForChanges("FETCH"));
        Assert.True(ImapCommands.HoldsBackExpunges("FETCH"));
        Assert.False(ImapCommands.HoldsBackExpunges("UID FETCH")); // UIDs do not shift
        Assert.True(ImapCommands.NamesMessagesBySequence("COPY"));
        Assert.False(ImapCommands.NamesMessagesBySequence("NOOP"));
    }

    [Theory]
    [InlineData("a1 APPEND INBOX (\\Seen)", "a1", "APPEND")]
    [InlineData("x uid fetch 1:* BODY[]", "x", "UID FETCH")]
    [InlineData("t+ LOGIN", "*", "LOGIN")]
    [InlineData("lonely", "lonely", "")]
    public void A_half_read_command_is_named_by_its_tag_and_name(string text, string tag, string name) =>
        Assert.Equal(new CommandName(tag, name), CommandReader.NameOf(text));

    private static MessageRecord Record(long uid, long modSeq, params string[] flags) =>
        new(uid, "ref" + uid, 100, DateTimeOffset.UnixEpoch, flags, modSeq);

    [Fact]
    public void The_view_numbers_messages_in_UID_order_and_renumbers_after_an_expunge()
    {
        var view = new SelectedMailbox("INBOX", readOnly: false, uidValidity: 7);
        view.Load([Record(5, 3), Record(2, 9), Record(9, 4)]);
        Assert.Equal([2L, 5, 9], view.Uids);
        Assert.Equal(9, view.MaxUid);
        Assert.Equal(2, view.SequenceOf(5));
        Assert.Equal(0, view.SequenceOf(4));
        Assert.Equal(9, view.HighestHeldModSeq);

        view.RemoveAt(0);
        Assert.Equal(1, view.SequenceOf(5));
        Assert.False(view.Records.ContainsKey(2));
        Assert.Equal(9, view.HighestHeldModSeq); // it may have been shown: still owed a lower HIGHESTMODSEQ
    }

    [Fact]
    public void Recent_covers_the_claimed_range_only_and_leaves_with_the_expunge()
    {
        var view = new SelectedMailbox("INBOX", readOnly: false, uidValidity: 7);
        view.Load([Record(1, 1), Record(2, 1), Record(3, 1), Record(4, 1)]);
        view.AddRecent(2, 4);
        Assert.Equal([2L, 3], view.Recent.Order());
        Assert.True(view.IsRecent(3));
        Assert.False(view.IsRecent(4));
        view.RemoveAt(1);
        Assert.False(view.IsRecent(2));
    }

    [Fact]
    public void Keywords_are_the_non_system_flags_each_once()
    {
        var view = new SelectedMailbox("INBOX", readOnly: true, uidValidity: 7);
        view.Load([Record(1, 1, "\\Seen", "$Label1"), Record(2, 2, "$label1", "Work"), Record(3, 3)]);
        Assert.Equal(["$Label1", "Work"], view.Keywords());
        view.Put(Record(3, 12, "\\Flagged"));
        Assert.Equal(12, view.HighestHeldModSeq);
    }

    [Fact]
    public void A_refresh_holds_changed_records_drops_missing_ones_and_appends_new_mail()
    {
        var view = new SelectedMailbox("INBOX", readOnly: false, uidValidity: 7);
        view.Load([Record(1, 1, "\\Seen"), Record(2, 2), Record(3, 3)]);
        Assert.False(view.HoldChanged(Record(1, 1, "\\SEEN"))); // same MODSEQ, same flags (case aside)
        Assert.True(view.HoldChanged(Record(2, 8, "\\Flagged")));
        Assert.Equal(["\\Flagged"], view.Records[2].Flags);
        Assert.False(view.HoldChanged(Record(40, 9))); // not in the view: new mail, not a change

        var current = new Dictionary<long, MessageRecord> { [2] = Record(2, 8), [5] = Record(5, 10), [4] = Record(4, 9) };
        Assert.Equal([0, 2], view.IndexesMissingFrom(current));
        var stamp = view.Stamp;
        Assert.Equal(2, view.AddNew([Record(2, 8), Record(4, 9), Record(5, 10)]));
        Assert.Equal([1L, 2, 3, 4, 5], view.Uids);
        Assert.NotEqual(stamp, view.Stamp);
        Assert.Equal(0, view.AddNew([Record(5, 10)]));
    }
}
