using Mail.Core.Ports;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>The session's side of a <see cref="SearchProgram"/>: read against the selected mailbox (a MODSEQ key
/// enables CONDSTORE) and matched with the session's message store. SEARCH, SORT, THREAD and the updating contexts
/// use it.</summary>
internal sealed partial class ImapSession
{
    /// <summary>Reads the search keys to the end of the command and returns the messages matching all of them, in
    /// sequence order.</summary>
    private async Task<List<(int Seq, MessageRecord Record)>> MatchAsync(ArgReader r, CancellationToken ct) =>
        await MatchAsync(ParseSearchProgram(r), ct);

    private SearchProgram ParseSearchProgram(ArgReader r)
    {
        var program = SearchProgram.Parse(r, _selected!);
        if (program.UsesModSeq) EnableCondStore();
        return program;
    }

    private Task<List<(int Seq, MessageRecord Record)>> MatchAsync(SearchProgram program, CancellationToken ct) =>
        program.MatchAsync(_services.Messages, _selected!, ct);
}
