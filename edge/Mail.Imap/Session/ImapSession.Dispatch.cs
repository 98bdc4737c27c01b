using Mail.Core.Ports;
using Mail.Imap.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Imap.Session;

/// <summary>
/// Command dispatch: one command's tag and name, the state check (<see cref="ImapCommands"/>), the handler, the
/// store's failures mapped to RFC 5530 response codes, then what the client is owed after it (the selected
/// mailbox's changes, NOTIFY events, CONTEXT updates) and the tagged completion.
/// </summary>
internal sealed partial class ImapSession
{
    private async Task ExecuteAsync(CommandText command, CancellationTokenSource timeout)
    {
        var r = new ArgReader(command.Text, command.Literals);
        string tag;
        try
        {
            tag = r.Atom("]");
            if (tag.Contains('+')) throw new ImapParseException("bad tag");
        }
        catch (ImapParseException)
        {
            _conn.WriteLine("* BAD Missing or invalid tag");
            return;
        }
        string name;
        try
        {
            r.Space();
            name = r.Atom().ToUpperInvariant();
            if (name == "UID")
            {
                r.Space();
                name = "UID " + r.Atom().ToUpperInvariant();
            }
        }
        catch (ImapParseException)
        {
            _conn.WriteLine($"{tag} BAD Missing command name");
            return;
        }
        if (!ImapCommands.IsKnown(name))
        {
            _conn.WriteLine($"{tag} BAD Unknown command {Truncate(name)}");
            return;
        }
        if (!ImapCommands.IsAllowed(name, _state))
        {
            _conn.WriteLine($"{tag} BAD {name} is not valid in the {ImapCommands.Describe(_state)} state");
            return;
        }
        _inProgress = new CommandName(tag, name);

        var ct = timeout.Token;
        string? completion;
        try
        {
            completion = name switch
            {
                "CAPABILITY" => Capability(r),
                "NOOP" or "CHECK" => Noop(r, name),
                "LOGOUT" => Logout(r),
                "ID" => Id(r),
                "STARTTLS" => await StartTlsAsync(r, tag, ct),
                "LOGIN" => await LoginAsync(r, ct),
                "AUTHENTICATE" => await AuthenticateAsync(r, ct),
                "ENABLE" => Enable(r),
                "NAMESPACE" => Namespace(r),
                "GETQUOTAROOT" => await GetQuotaRootAsync(r, ct),
                "GETQUOTA" => await GetQuotaAsync(r, ct),
                "SETQUOTA" => SetQuota(),
                "SELECT" or "EXAMINE" => await SelectAsync(r, name, ct),
                "CREATE" => await CreateAsync(r, ct),
                "DELETE" => await DeleteAsync(r, ct),
                "RENAME" => await RenameAsync(r, ct),
                "SUBSCRIBE" or "UNSUBSCRIBE" => await SubscribeAsync(r, name == "SUBSCRIBE", ct),
                "LIST" or "LSUB" => await ListAsync(r, name == "LSUB", ct),
                "STATUS" => await StatusAsync(r, ct),
                "APPEND" => await AppendAsync(r, ct),
                "IDLE" => await IdleAsync(r, timeout),
                "NOTIFY" => await NotifyAsync(r, ct),
                "CLOSE" => await CloseAsync(r, ct),
                "UNSELECT" => Unselect(r),
                "EXPUNGE" or "UID EXPUNGE" => await ExpungeAsync(r, name == "UID EXPUNGE", ct),
                "FETCH" or "UID FETCH" => await FetchAsync(r, name == "UID FETCH", ct),
                "STORE" or "UID STORE" => await StoreAsync(r, name == "UID STORE", ct),
                "COPY" or "UID COPY" => await CopyAsync(r, name == "UID COPY", move: false, ct),
                "MOVE" or "UID MOVE" => await CopyAsync(r, name == "UID MOVE", move: true, ct),
                "SEARCH" or "UID SEARCH" => await SearchAsync(r, name == "UID SEARCH", tag, ct),
                "SORT" or "UID SORT" => await SortAsync(r, name == "UID SORT", tag, ct),
                "THREAD" or "UID THREAD" => await ThreadAsync(r, name == "UID THREAD", ct),
                "CANCELUPDATE" => CancelUpdate(r),
                _ => throw new ImapParseException($"Unknown command {name}"),
            };
        }
        catch (ImapParseException e)
        {
            _conn.WriteLine($"{tag} BAD {e.Message}");
            return;
        }
        catch (InvalidMailboxNameException e)
        {
            completion = $"NO [CANNOT] {e.Message}";
        }
        catch (MailboxNotFoundException e)
        {
            completion = $"NO [NONEXISTENT] {e.Message}";
        }
        catch (MailboxExistsException e)
        {
            completion = $"NO [ALREADYEXISTS] {e.Message}";
        }
        catch (MailboxException e)
        {
            completion = $"NO [CANNOT] {e.Message}";
        }
        catch (ArgumentException e)
        {
            completion = $"NO [CANNOT] {e.Message}";
        }
        catch (Exception e) when (!IsConnectionFailure(e) && e is not OperationCanceledException)
        {
            // The client gets no detail (RFC 5530 SERVERBUG); the log line names the command and the exception, so a
            // failure seen only by a client (imaptest's stress mode) can be matched to its cause.
            _logger.LogError(e, "IMAP {Command} failed for {User}: {ExceptionType}: {ExceptionMessage}", name, _user, e.GetType().FullName, e.Message);
            completion = "NO [SERVERBUG] Internal error; the failure was logged";
        }
        if (completion is null) return; // the command wrote its own completion (STARTTLS)
        // The command's outcome stands whatever happens next: its tagged reply is sent even after a BYE.
        await TryReportChangesAsync(tag, name, ct => ReportChangesAfterAsync(name, ct), ct);
        _conn.WriteLine($"{tag} {completion}");
    }

    /// <summary>What the client is owed after <paramref name="name"/>: the selected mailbox's changes (RFC 9051 7),
    /// NOTIFY's events, the CONTEXT=SEARCH updates.</summary>
    private async Task ReportChangesAfterAsync(string name, CancellationToken ct)
    {
        var refreshed = false;
        if (_state is SessionState.Selected or SessionState.Authenticated && name != "LOGOUT" && RefreshDue(name))
        {
            // SELECT/EXAMINE just read the mailbox: a change since then waits for the next command, since a client
            // resynchronising with QRESYNC takes the EXISTS of the SELECT as its count after applying VANISHED (EARLIER)
            // (imaptest's model, and Dovecot never sends more in the SELECT response).
            if (_state == SessionState.Selected && name is not ("SELECT" or "EXAMINE"))
            {
                await RefreshAsync(allowExpunge: !ImapCommands.HoldsBackExpunges(name) && !SequenceCommandPipelined(), ct);
                refreshed = true;
            }
            await NotifyChangesAsync(ct);
        }
        // A refresh has done this; without one (FETCH that set \Seen between polls) the lower value is still owed.
        if (!refreshed && _state == SessionState.Selected && _selected is { } held) ReportHighestModSeqIfBehind(held);
        await SendContextUpdatesAsync(ct);
    }

    private long _lastRefresh;

    /// <summary>
    /// True when the client already sent (pipelined) a command that names messages by sequence number: an EXPUNGE
    /// reported now would shift the numbers under it, since the client chose them before reading this response
    /// (RFC 9051 5.5). The expunge is reported after that command instead.
    /// </summary>
    private bool SequenceCommandPipelined()
    {
        var pending = _conn.PeekBuffered(4096);
        if (pending.Length == 0) return false;
        foreach (var line in pending.Split('\n'))
        {
            var words = line.Split(' ', 4);
            if (words.Length < 3) continue;
            var command = words[1].ToUpperInvariant();
            if (ImapCommands.NamesMessagesBySequence(command)) return true;
        }
        return false;
    }

    /// <summary>
    /// The commands <see cref="ImapCommands.AlwaysLooksForChanges"/> names always look for changes. Other commands look at most once per
    /// <see cref="ImapServerOptions.IdlePollInterval"/>: a client fetching 1,000 messages one command at a time
    /// should not pay a mailbox lookup for each, and it still hears of changes within that interval.
    /// </summary>
    private bool RefreshDue(string command)
    {
        var now = _services.Time.GetTimestamp();
        if (!ImapCommands.AlwaysLooksForChanges(command) && _services.Time.GetElapsedTime(_lastRefresh, now) < _options.IdlePollInterval) return false;
        _lastRefresh = now;
        return true;
    }

    private static string Truncate(string s) => CommandReader.Truncate(s);

    /// <summary>
    /// Runs what the session tells the client outside a command's own work: the changes to the selected mailbox and
    /// what NOTIFY asked for, after a command, during IDLE and while waiting for a command. A store failure there is a
    /// server fault like one inside a command (logged with the command, the user and the exception), but the session
    /// cannot answer NO for it and carry on: the view may be half brought up to date (EXPUNGEs sent, EXISTS not yet),
    /// and sequence numbers the client computes from it would be wrong. So the client gets BYE and the session ends.
    /// False when that happened.
    /// </summary>
    private async Task<bool> TryReportChangesAsync(string tag, string command, Func<CancellationToken, Task> report, CancellationToken ct)
    {
        try
        {
            await report(ct);
            return true;
        }
        catch (Exception e) when (!IsConnectionFailure(e) && e is not OperationCanceledException)
        {
            _logger.LogError(e, "IMAP {Tag} {Command} for {User}: reporting mailbox changes failed, session closed: {ExceptionType}: {ExceptionMessage}",
                tag, command, UserForLog, e.GetType().FullName, e.Message);
            _conn.WriteLine("* BYE [SERVERBUG] Internal error while reporting mailbox changes; the failure was logged");
            _state = SessionState.Logout;
            return false;
        }
    }
}
