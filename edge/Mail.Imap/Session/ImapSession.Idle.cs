using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>IDLE (RFC 2177): the client waits, the session polls the store every IdlePollInterval and reports what
/// changed until the client sends DONE.</summary>
internal sealed partial class ImapSession
{
    private async Task<string> IdleAsync(ArgReader r, CancellationTokenSource timeout)
    {
        r.ExpectEnd();
        var ct = timeout.Token;
        _conn.WriteLine("+ idling");
        await _conn.FlushAsync(ct);
        var done = _conn.ReadLineAsync(_options.MaxLineLength, ct).AsTask();
        while (true)
        {
            // Deliveries may come from another process: poll the store rather than wait for an in-process signal.
            var tick = Task.Delay(_options.IdlePollInterval, _services.Time, ct);
            if (await Task.WhenAny(done, tick) == done) break;
            await tick;
            if (!await TryReportChangesAsync(_inProgress?.Tag ?? "*", "IDLE", ReportChangesWhileIdleAsync, ct))
                return "NO [SERVERBUG] IDLE ended by an internal error; the failure was logged";
            await _conn.FlushAsync(ct);
        }
        var line = await done;
        if (line.IsEnd) throw new IOException("Connection closed during IDLE");
        if (line.IsTooLong || !string.Equals(line.Text, "DONE", StringComparison.OrdinalIgnoreCase))
            return "BAD Expected DONE to end IDLE";
        return "OK IDLE terminated";
    }

    private async Task ReportChangesWhileIdleAsync(CancellationToken ct)
    {
        if (_state == SessionState.Selected)
        {
            await RefreshAsync(allowExpunge: true, ct);
            await SendContextUpdatesAsync(ct);
        }
        await NotifyChangesAsync(ct);
    }
}
